/** Status words and icons: every node shows an icon beside its colour, so reused is told from executed (and failed from stale) without colour alone. */
import { StepStatus } from '../../tokens';

const ICONS: Record<string, string> = {
  cached: '♻',
  reused: '♻',
  succeeded: '✓',
  stale: '●',
  pending: '…',
  running: '▶',
  failed: '✗',
  skipped: '⤼',
  cancelled: '■',
  invalid: '!'
};

export function statusIcon(status: string): string {
  return ICONS[status] ?? '';
}

export const STATUS_TEXT: Record<StepStatus, string> = {
  cached: 'cached (will be reused)',
  stale: 'stale',
  pending: 'pending',
  running: 'running',
  succeeded: 'executed',
  reused: 'reused',
  failed: 'failed',
  skipped: 'skipped (upstream failed)',
  cancelled: 'cancelled',
  invalid: 'invalid'
};

/** Whether `error` is a run's failure that only `step` caused: a pane showing that step's failure says it already. */
export function onlyFailureOf(error: string | null, step: string | null): boolean {
  return (
    !!error &&
    !!step &&
    /^Run \S+ failed:/.test(error) &&
    error.includes(`'${step}'`) &&
    (error.match(/step '/g) || []).length === 1
  );
}
