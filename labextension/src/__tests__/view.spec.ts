/** Unit spec of the pipeline view's pure parts: number formats, chart scales, the runs table's sort/filter/diff, the opening zoom, status icons. */
import { IRunRow, IRunTable } from '../views/pipeline/client';
import { formatDuration, formatNumber, formatValue } from '../views/pipeline/format';
import { initialZoom, LEGIBLE_ZOOM } from '../views/pipeline/graphScroller';
import { niceScale } from '../views/pipeline/scale';
import { onlyFailureOf, statusIcon } from '../views/pipeline/status';
import { differingColumns, filterRows, sortRows, tableColumns } from '../views/pipeline/tableModel';

function row(
  id: string,
  state: string,
  params: Record<string, unknown>,
  metrics: Record<string, unknown>
): IRunRow {
  return {
    run_id: id,
    state,
    trigger: null,
    started: 0,
    finished: 1,
    duration: 1,
    counts: {},
    params,
    logged_params: params,
    metrics
  };
}

const TABLE: IRunTable = {
  runs: [
    row('r3', 'failed', { lr: 0.1, model: 'rf' }, {}),
    row('r2', 'succeeded', { lr: 0.01, model: 'rf' }, { acc: 0.91 }),
    row('r1', 'succeeded', { lr: 0.001, model: 'lr' }, { acc: 0.85 })
  ],
  params: ['lr', 'model'],
  metrics: ['acc']
};

describe('numbers for people', () => {
  it('formats metrics, big counts and durations', () => {
    expect(formatNumber(0.912345678)).toBe('0.9123');
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(12345.678)).toBe('12,345.7');
    expect(formatNumber(0.0000123)).toBe('1.230e-5');
    expect(formatValue(null)).toBe('–');
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(125)).toBe('2 min 5 s');
  });
});

describe('chart scales', () => {
  it('gives a constant metric a small range around its value, not value ± 1', () => {
    const s = niceScale([0.98, 0.98, 0.98]);
    expect(s.lo).toBeGreaterThan(0.9);
    expect(s.hi).toBeLessThan(1.1);
    expect(s.lo).toBeLessThan(0.98);
    expect(s.hi).toBeGreaterThan(0.98);
  });
  it('rounds the range to tick steps that cover the data', () => {
    const s = niceScale([3, 47]);
    expect(s.ticks).toEqual([0, 10, 20, 30, 40, 50]);
    expect(niceScale([0, 0]).ticks[0]).toBeLessThan(0);
  });
});

describe('runs table', () => {
  const columns = tableColumns(TABLE);
  const col = (id: string) => columns.find(c => c.id === id)!;
  it('has a column per parameter and metric', () => {
    expect(columns.map(c => c.id)).toEqual([
      'run',
      'state',
      'trigger',
      'started',
      'duration',
      'param:lr',
      'param:model',
      'metric:acc'
    ]);
  });
  it('sorts numbers as numbers, empty cells last either way', () => {
    expect(sortRows(TABLE.runs, col('metric:acc'), true).map(r => r.run_id)).toEqual([
      'r2',
      'r1',
      'r3'
    ]);
    expect(sortRows(TABLE.runs, col('metric:acc'), false).map(r => r.run_id)).toEqual([
      'r1',
      'r2',
      'r3'
    ]);
    expect(sortRows(TABLE.runs, col('param:lr'), false).map(r => r.run_id)).toEqual([
      'r1',
      'r2',
      'r3'
    ]);
  });
  it('filters by conditions and by text', () => {
    expect(filterRows(TABLE.runs, columns, 'lr>0.005').map(r => r.run_id)).toEqual(['r3', 'r2']);
    expect(filterRows(TABLE.runs, columns, 'state=succeeded, model=rf').map(r => r.run_id)).toEqual(
      ['r2']
    );
    expect(filterRows(TABLE.runs, columns, 'fail').map(r => r.run_id)).toEqual(['r3']);
    expect(filterRows(TABLE.runs, columns, '').length).toBe(3);
  });
  it('names the parameters and metrics that differ between two runs', () => {
    expect([...differingColumns(TABLE.runs[1], TABLE.runs[2], columns)]).toEqual([
      'param:lr',
      'param:model',
      'metric:acc'
    ]);
    expect([...differingColumns(TABLE.runs[0], TABLE.runs[1], columns)]).toEqual([
      'param:lr',
      'metric:acc'
    ]);
  });
});

describe('graph view', () => {
  it('opens a small graph fitted and a big one at a legible zoom', () => {
    expect(initialZoom({ w: 400, h: 300 }, { w: 800, h: 600 })).toBe(1.25);
    expect(initialZoom({ w: 900, h: 700 }, { w: 800, h: 600 })).toBeCloseTo(
      0.857 < LEGIBLE_ZOOM ? LEGIBLE_ZOOM : 0.857,
      2
    );
    expect(initialZoom({ w: 600, h: 4000 }, { w: 800, h: 600 })).toBe(LEGIBLE_ZOOM);
  });
  it('marks reused apart from executed', () => {
    expect(statusIcon('reused')).not.toBe(statusIcon('succeeded'));
    expect(statusIcon('reused')).toBe('♻');
  });
});

describe('failure said once', () => {
  it('knows a run error that only repeats the shown step', () => {
    const one = "Run r1 failed:\nstep 'join' failed: ValueError: bad join";
    expect(onlyFailureOf(one, 'join')).toBe(true);
    expect(onlyFailureOf(one, 'load')).toBe(false);
    expect(onlyFailureOf(one + "\nstep 'left' failed: KeyError", 'join')).toBe(false);
    expect(onlyFailureOf('Open a notebook first.', 'join')).toBe(false);
  });
});
