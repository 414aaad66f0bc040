/** Unit spec of the panel's sweeps and schedules: the sweep form's values, sorting points, the jobs model against a fake client. */
import { JobsModel } from '../model/jobs';
import { parameterFields } from '../model/parameters';
import { scheduleKind, scheduleRow } from '../model/schedules';
import {
  parseValues,
  pointCount,
  sortPoints,
  sweepMetrics,
  sweepRequest,
  sweepStatusText
} from '../model/sweeps';
import { IJobsClient, ISchedule, ISweep, ISweepPoint } from '../tokens';

function point(
  a: number,
  state: ISweepPoint['state'],
  metrics: Record<string, number>
): ISweepPoint {
  return { params: { a }, run_id: `r${a}`, state, metrics, error: null };
}

describe('sweep form', () => {
  const fields = parameterFields({ n: 3, lr: 0.1, on: true, name: 'x' });

  it('parses comma-separated values as the field type', () => {
    expect(parseValues(fields[0], '1, 2,3')).toEqual([1, 2, 3]);
    expect(parseValues(fields[1], '0.5,1e-3')).toEqual([0.5, 0.001]);
    expect(parseValues(fields[2], 'true, False')).toEqual([true, false]);
    expect(parseValues(fields[3], 'a, b c')).toEqual(['a', 'b c']);
    expect(() => parseValues(fields[0], '1, 2.5')).toThrow('n must be a whole number');
    expect(() => parseValues(fields[0], '1,,2')).toThrow('n: an empty value');
    expect(() => parseValues(fields[2], 'yes')).toThrow('on must be true or false');
  });

  it('sweeps fields with several values; single changed values go beside the grid', () => {
    const texts: Record<string, string> = { n: '1,2', lr: '0.1', on: 'false', name: 'x, y' };
    const request = sweepRequest(fields, name => texts[name]);
    expect(request).toEqual({ sweep: { n: [1, 2], name: ['x', 'y'] }, params: { on: false } });
    expect(pointCount(request.sweep)).toBe(4);
    expect(() =>
      sweepRequest(fields, name => ({ n: '5', lr: '0.1', on: 'true', name: 'x' })[name]!)
    ).toThrow('give at least one parameter several comma-separated values');
  });
});

describe('sweep points', () => {
  const points = [
    point(1, 'succeeded', { loss: 1 }),
    point(2, 'failed', {}),
    point(3, 'succeeded', { loss: 0.5, acc: 1 })
  ];

  it('sorts by a metric either way, points without it last in grid order', () => {
    expect(sortPoints(points, 'loss').map(p => p.params.a)).toEqual([3, 1, 2]);
    expect(sortPoints(points, 'loss', true).map(p => p.params.a)).toEqual([1, 3, 2]);
    expect(sortPoints(points, null).map(p => p.params.a)).toEqual([1, 2, 3]);
    expect(sweepMetrics(points)).toEqual(['acc', 'loss']);
  });

  it('says how far a sweep is, and how it ended', () => {
    const running: ISweep = {
      sweep_id: 's1',
      path: 'a.ipynb',
      state: 'running',
      points: { 0: 'r1' }
    };
    expect(sweepStatusText(running, 3)).toBe('Sweep s1: 1/3 points done');
    const ended: ISweep = { ...running, state: 'failed', points, swept: ['a'] };
    expect(sweepStatusText(ended, 3)).toBe('Sweep s1 failed: 3 points, 1 not succeeded');
  });
});

function schedule(id: string, extra: Partial<ISchedule>): ISchedule {
  return { id, notebook: 'a.ipynb', when: '', next: null, last_run: null, ...extra };
}

describe('schedules', () => {
  it('names the kind, the next time and the last run', () => {
    const every = schedule('e1', { every: '1h', when: 'every 1h', next: 3600 });
    const cron = schedule('c1', {
      cron: '0 6 * * *',
      when: 'cron 0 6 * * *',
      next: 7200,
      last_run: { run_id: 'r9', started: 100, finished: 110, state: 'succeeded' }
    });
    const change = schedule('o1', { on_change: ['data.csv'], when: 'on change of data.csv' });
    expect([every, cron, change].map(scheduleKind)).toEqual(['every', 'cron', 'on-change']);
    expect(scheduleRow(every).last).toBe('never');
    expect(scheduleRow(cron).last).toContain('succeeded');
    expect(scheduleRow(cron).last).toContain('(r9)');
    expect(scheduleRow(change).next).toBe('when its inputs change');
    expect(scheduleRow(schedule('x', { error: 'gone' })).next).toBe('cannot load: gone');
  });
});

/** A client whose sweep runs for `polls` answers, then ends with `points`. */
class FakeJobs implements IJobsClient {
  started: unknown[] = [];
  polls = 2;
  schedules: ISchedule[] = [
    schedule('e1', { every: '1h', when: 'every 1h' }),
    schedule('o2', { notebook: 'other.ipynb', on_change: [], when: 'x' })
  ];
  startSweep = jest.fn(async (body: any) => {
    this.started.push(body);
    return { sweep_id: 'sw1', path: body.path, state: 'running' as const, points: {} };
  });
  getSweep = jest.fn(async (sweepId: string): Promise<ISweep> =>
    --this.polls > 0
      ? { sweep_id: sweepId, path: 'a.ipynb', state: 'running', points: { 0: 'r1' } }
      : // the server files it under the id it answered with, whatever the result says
        {
          sweep_id: 'other',
          path: 'a.ipynb',
          state: 'succeeded',
          swept: ['a'],
          points: [point(1, 'succeeded', {})]
        }
  );
  listSchedules = jest.fn(async (_path: string) => ({ schedules: this.schedules }));
}

const tick = (ms = 0) => new Promise(resolve => setTimeout(resolve, ms));

describe('JobsModel', () => {
  it("lists the followed notebook's schedules only", async () => {
    const client = new FakeJobs();
    const jobs = new JobsModel(client);
    const seen: (ISchedule[] | null)[] = [];
    jobs.schedulesChanged.connect((_, rows) => seen.push(rows));
    jobs.follow('a.ipynb');
    await tick();
    expect(client.listSchedules).toHaveBeenCalledWith('a.ipynb');
    expect(jobs.schedules!.map(s => s.id)).toEqual(['e1']);
    expect(seen[0]).toBeNull();
    const revealed = jest.fn();
    jobs.schedulesRevealed.connect(revealed);
    await jobs.revealSchedules();
    expect(revealed).toHaveBeenCalled();
    jobs.dispose();
  });

  it('starts a sweep, polls it until it ends, then says so', async () => {
    const client = new FakeJobs();
    const ended = jest.fn();
    const jobs = new JobsModel(client, { pollInterval: 1, onSweepEnded: ended });
    const states: string[] = [];
    jobs.sweepChanged.connect((_, s) => states.push(s ? s.state : 'none'));
    await expect(jobs.startSweep({ sweep: { a: [1] }, params: {} })).rejects.toThrow(
      'Open a notebook first'
    );
    jobs.follow('a.ipynb');
    await jobs.startSweep({ sweep: { a: [1, 2] }, params: { b: 3 } });
    expect(client.started).toEqual([{ path: 'a.ipynb', sweep: { a: [1, 2] }, params: { b: 3 } }]);
    expect(jobs.sweepTotal).toBe(2);
    await expect(jobs.startSweep({ sweep: { a: [1, 2] }, params: {} })).rejects.toThrow(
      'still running'
    );
    for (let i = 0; i < 20 && !ended.mock.calls.length; i++) {
      await tick(2);
    }
    expect(ended).toHaveBeenCalledTimes(1);
    expect(jobs.sweep!.state).toBe('succeeded');
    expect(jobs.sweep!.sweep_id).toBe('sw1');
    expect(states).toEqual(['none', 'running', 'running', 'succeeded']);
    jobs.follow('other.ipynb');
    expect(jobs.sweep).toBeNull(); // another notebook's sweep is not shown
    jobs.dispose();
  });
});
