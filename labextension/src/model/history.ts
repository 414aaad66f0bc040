/** Questions about past runs the panel asks: the latest executed notebook of a step, runs worth listing (idle runs folded), compare picks. */
import { IPipelineClient, IRun } from '../tokens';

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

/** A run that executed nothing: every step was reused. */
export function isIdle(run: IRun): boolean {
  const states = Object.keys(run.counts || {});
  return run.state === 'succeeded' && states.length > 0 && states.every(s => s === 'reused');
}

/** Runs newest first, each consecutive stretch of idle runs folded under its newest one. */
export function foldIdleRuns(runs: readonly IRun[]): { run: IRun; folded: IRun[] }[] {
  const rows: { run: IRun; folded: IRun[] }[] = [];
  for (const run of runs) {
    const last = rows[rows.length - 1];
    if (last && isIdle(run) && isIdle(last.run)) {
      last.folded.push(run);
    } else {
      rows.push({ run, folded: [] });
    }
  }
  return rows;
}

/** The two runs picked for a compare, newest pick last; picking a third drops the oldest. */
export function togglePick(picked: readonly string[], runId: string): string[] {
  if (picked.includes(runId)) {
    return picked.filter(p => p !== runId);
  }
  return [...picked, runId].slice(-2);
}
