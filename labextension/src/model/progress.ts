/** Run progress as the panel shows it: `k/N` steps finished, elapsed time per running step and run. */
import { FINAL_STATUSES, IStepProgress } from '../tokens';

export interface IRunProgress {
  done: number;
  total: number;
  /** Seconds since the run started. */
  elapsed: number | null;
  /** Running steps with their elapsed seconds, in the order they started. */
  running: { name: string; elapsed: number }[];
}

/** Where the run stands at `now` (seconds since the epoch). */
export function runProgress(
  steps: readonly IStepProgress[],
  started: number | null,
  now: number
): IRunProgress {
  const running = steps
    .filter(s => s.state === 'running')
    .sort((a, b) => (a.started ?? now) - (b.started ?? now))
    .map(s => ({ name: s.name, elapsed: Math.max(0, now - (s.started ?? now)) }));
  return {
    done: steps.filter(s => FINAL_STATUSES.has(s.state)).length,
    total: steps.length,
    elapsed: started == null ? null : Math.max(0, now - started),
    running
  };
}

/** "1.2 s", "2 min 5 s". */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds == null) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** One line: "2/4 steps · 3.1 s · running: left 1.2 s". */
export function progressText(p: IRunProgress): string {
  const parts = [`${p.done}/${p.total} steps`];
  if (p.elapsed != null) {
    parts.push(formatSeconds(p.elapsed));
  }
  if (p.running.length) {
    parts.push(
      'running: ' + p.running.map(r => `${r.name} ${formatSeconds(r.elapsed)}`).join(', ')
    );
  }
  return parts.join(' · ');
}

/**
 * The summary of a run that ended: "Last run: 5/5 steps · 3.0 s" when every step succeeded or
 * was reused; else what went wrong first: "Last run failed at train · 2/5 steps succeeded" or
 * "Last run cancelled · 1/5 steps succeeded" (failed, skipped and cancelled steps are not done).
 */
export function lastRunText(steps: readonly IStepProgress[], p: IRunProgress): string {
  const ok = steps.filter(s => s.state === 'succeeded' || s.state === 'reused').length;
  const failed = steps.filter(s => s.state === 'failed').map(s => s.name);
  const tail = `${ok}/${steps.length} steps succeeded`;
  if (failed.length) {
    return `Last run failed at ${failed.join(', ')} · ${tail}`;
  }
  if (steps.some(s => s.state === 'cancelled')) {
    return `Last run cancelled · ${tail}`;
  }
  if (ok < steps.length) {
    return `Last run stopped · ${tail}`;
  }
  return 'Last run: ' + progressText(p);
}
