/** Questions about past runs the panel asks: the latest executed notebook of a step, runs worth listing. */
import { IPipelineClient } from './tokens';

/** The latest run (of the last `depth`) in which `step` has an executed notebook, or null. */
export async function latestExecutedRun(
  client: IPipelineClient,
  path: string,
  step: string,
  depth = 10
): Promise<string | null> {
  const { runs } = await client.listRuns(path, depth);
  for (const r of runs) {
    const run = await client.getRun(path, r.run_id);
    if (run.steps?.some(s => s.name === step && s.has_notebook)) {
      return run.run_id;
    }
  }
  return null;
}

/** The two runs picked for a compare, newest pick last; picking a third drops the oldest. */
export function togglePick(picked: readonly string[], runId: string): string[] {
  if (picked.includes(runId)) {
    return picked.filter(p => p !== runId);
  }
  return [...picked, runId].slice(-2);
}

