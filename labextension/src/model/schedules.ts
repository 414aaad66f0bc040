/** Schedules as the panel lists them: kind (every, cron, on-change), when, next time and last run in words. */
import { ISchedule } from '../tokens';

export type ScheduleKind = 'every' | 'cron' | 'on-change';

/** One schedule's row in the panel. */
export interface IScheduleRow {
  id: string;
  kind: ScheduleKind;
  when: string;
  next: string;
  last: string;
  lastState: string | null;
}

export function scheduleKind(s: ISchedule): ScheduleKind {
  return s.every ? 'every' : s.cron ? 'cron' : 'on-change';
}

function at(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString();
}

/** The row of a schedule: "on change" has no next time; a schedule that never ran says so. */
export function scheduleRow(s: ISchedule): IScheduleRow {
  const kind = scheduleKind(s);
  return {
    id: s.id,
    kind,
    when: s.when,
    next: s.error
      ? `cannot load: ${s.error}`
      : s.next != null
        ? at(s.next)
        : 'when its inputs change',
    last: s.last_run
      ? `${s.last_run.state} ${at(s.last_run.started)} (${s.last_run.run_id})`
      : 'never',
    lastState: s.last_run?.state ?? null
  };
}
