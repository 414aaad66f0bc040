/** `%%step` cells as the notebook runs them: which step a cell is, and what its run did. */
import { StepStatus } from '../tokens';

/** The step a cell's source runs (`%%step NAME ...`), or null. */
export function stepOfCell(source: string): string | null {
  const m = /^\s*%%step[ \t]+([A-Za-z_][A-Za-z0-9_-]*)/.exec(source);
  return m ? m[1] : null;
}

/** What an ended `%%step` cell did: the magic prints "reused NAME (...)" on a hit. */
export function stepCellOutcome(step: string, printed: string, success: boolean): StepStatus {
  if (!success) {
    return 'failed';
  }
  return printed.split('\n').some(line => line.startsWith(`reused ${step} (`))
    ? 'reused'
    : 'succeeded';
}
