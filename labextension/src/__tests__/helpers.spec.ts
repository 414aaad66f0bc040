/** Unit spec of the panel's pure helpers: progress, parameters form, compare picks, viewport, layout, charts. */
import { metricSeries } from '../views/charts';
import { layout } from '../views/graph';
import { foldIdleRuns, togglePick } from '../model/history';
import {
  changedParameters,
  FieldError,
  literalParameters,
  parameterFields,
  parseField,
  valueMismatch
} from '../model/parameters';
import { sweepRequest } from '../model/sweeps';
import { formatSeconds, lastRunText, progressText, runProgress } from '../model/progress';
import { IMetricPoint, IRun, IStep, IStepProgress } from '../tokens';
import { revealed, zoomed } from '../views/viewport';

function sp(
  name: string,
  state: IStepProgress['state'],
  started: number | null = null
): IStepProgress {
  return { name, state, duration: null, error: null, has_notebook: false, started };
}

describe('progress', () => {
  it('counts finished steps and times running ones', () => {
    const p = runProgress(
      [sp('a', 'succeeded', 0), sp('b', 'running', 8), sp('c', 'pending')],
      0,
      10
    );
    expect(p).toEqual({ done: 1, total: 3, elapsed: 10, running: [{ name: 'b', elapsed: 2 }] });
    expect(progressText(p)).toBe('1/3 steps · 10.0 s · running: b 2.0 s');
    expect(formatSeconds(125)).toBe('2 min 5 s');
  });
});

describe('last run summary', () => {
  const steps = (...states: IStepProgress['state'][]) =>
    states.map((state, i) => sp(`s${i}`, state, 0));
  const summary = (s: IStepProgress[]) => lastRunText(s, runProgress(s, 0, 3));

  it('says every step is done only when every step succeeded or was reused', () => {
    expect(summary(steps('succeeded', 'reused'))).toBe('Last run: 2/2 steps · 3.0 s');
  });

  it('says a run failed, naming the step, and counts only the steps that succeeded', () => {
    const s = [sp('load', 'succeeded'), sp('train', 'failed'), sp('report', 'skipped')];
    expect(summary(s)).toBe('Last run failed at train · 1/3 steps succeeded');
  });

  it('says a run was cancelled', () => {
    expect(summary(steps('reused', 'cancelled', 'cancelled'))).toBe(
      'Last run cancelled · 1/3 steps succeeded'
    );
  });
});

describe('parameters form', () => {
  it('reads the literal values of a parameters cell as Python does', () => {
    const source =
      'C = 0.25  # regularization\nn = 1_000\non = False\nname = "run a"\nlabel = "v" + str(n)\n# x = 3';
    expect(literalParameters(source)).toEqual({ C: 0.25, n: 1000, on: false, name: 'run a' });
  });

  it('keeps a float parameter whose value is whole (C = 1.0) a float, in the form and a sweep', () => {
    // JSON writes Python's 1.0 as 1: the server's types decide
    const fields = parameterFields(
      { C: 1, n: 3, label: 'v + str(n)' },
      { C: 'float', n: 'int', label: 'expression' }
    );
    expect(fields.map(f => [f.name, f.kind])).toEqual([
      ['C', 'float'],
      ['n', 'int']
    ]);
    expect(parseField(fields[0], '0.5')).toBe(0.5);
    expect(
      changedParameters(fields, name => ({ text: name === 'C' ? '0.5' : '3', checked: false }))
    ).toEqual({
      C: 0.5
    });
    const typed: Record<string, string> = { C: '0.5, 1, 2.5', n: '3' };
    const request = sweepRequest(fields, name => typed[name]);
    expect(JSON.stringify(request)).toContain('[0.5,1,2.5]');
    expect(() => parseField(fields[1], '0.5')).toThrow('n must be a whole number');
  });

  it('types fields by their literal defaults and reads back only what changed', () => {
    const fields = parameterFields({ n: 3, lr: 0.1, on: true, name: 'x', data: [1, 2] });
    expect(fields.map(f => [f.name, f.kind])).toEqual([
      ['n', 'int'],
      ['lr', 'float'],
      ['on', 'bool'],
      ['name', 'str']
    ]);
    expect(() => parseField(fields[0], '2.5')).toThrow('n must be a whole number');
    expect(() => parseField(fields[1], 'abc')).toThrow('lr must be a number');
    const typed: Record<string, { text: string; checked: boolean }> = {
      n: { text: '5', checked: false },
      lr: { text: '0.1', checked: false },
      on: { text: '', checked: false },
      name: { text: 'x', checked: false }
    };
    expect(changedParameters(fields, name => typed[name])).toEqual({ n: 5, on: false });
  });
});

describe('compare picks', () => {
  it('keeps the last two runs picked', () => {
    expect(togglePick(['a', 'b'], 'c')).toEqual(['b', 'c']);
    expect(togglePick(['a', 'b'], 'a')).toEqual(['b']);
  });
});

describe('recent runs', () => {
  const run = (
    run_id: string,
    counts: Record<string, number>,
    state: IRun['state'] = 'succeeded'
  ): IRun => ({
    run_id,
    state,
    counts,
    started: 0,
    finished: 1,
    duration: 1,
    live: false
  });
  it('folds consecutive runs that reused everything under the newest one', () => {
    const rows = foldIdleRuns([
      run('r6', { reused: 4 }),
      run('r5', { reused: 4 }),
      run('r4', { reused: 4 }),
      run('r3', { succeeded: 1, reused: 3 }),
      run('r2', { reused: 4 }),
      run('r1', { reused: 2 }, 'failed')
    ]);
    expect(rows.map(r => [r.run.run_id, r.folded.map(f => f.run_id)])).toEqual([
      ['r6', ['r5', 'r4']],
      ['r3', []],
      ['r2', []],
      ['r1', []]
    ]);
  });
});

describe('viewport', () => {
  it('zooms around the centre and reveals a node outside the view', () => {
    expect(zoomed({ x: 0, y: 0, w: 100, h: 50 }, 2)).toEqual({ x: 25, y: 12.5, w: 50, h: 25 });
    const box = { x: 0, y: 0, w: 50, h: 25 };
    expect(revealed(box, { x: 10, y: 5, w: 10, h: 5 })).toBe(box);
    expect(revealed(box, { x: 200, y: 100, w: 10, h: 10 })).toEqual({
      x: 180,
      y: 92.5,
      w: 50,
      h: 25
    });
  });
});

function node(name: string, cell: number): IStep {
  return {
    name,
    cell,
    cell_id: null,
    inputs: [],
    outputs: [],
    upstream: [],
    status: 'stale',
    reasons: [],
    duration: null
  };
}

describe('layout', () => {
  it('puts siblings left to right in cell order', () => {
    const steps = [
      node('load', 3),
      node('left', 4),
      node('right', 5),
      node('mid', 6),
      node('join', 7)
    ];
    const edges = ['left', 'right', 'mid'].flatMap(s => [
      { source: 'load', target: s, label: '' },
      { source: s, target: 'join', label: '' }
    ]);
    const { nodes, width } = layout(steps, edges);
    const xs = ['left', 'right', 'mid'].map(s => nodes.get(s)!.x);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(nodes.get('load')!.y).toBeLessThan(nodes.get('left')!.y);
    for (const b of nodes.values()) {
      expect(b.x + b.width).toBeLessThanOrEqual(width);
    }
  });
});

describe('metric series', () => {
  it('collects each metric across runs, oldest first', () => {
    const runs: IMetricPoint[] = [
      { run_id: 'r1', started: 1, state: 'succeeded', metrics: { acc: 0.5 } },
      { run_id: 'r2', started: 2, state: 'succeeded', metrics: { acc: 0.7, loss: 1 } }
    ];
    expect([...metricSeries(runs).entries()]).toEqual([
      [
        'acc',
        [
          [0, 0.5],
          [1, 0.7]
        ]
      ],
      ['loss', [[1, 1]]]
    ]);
  });
});

describe('form errors name their field', () => {
  const fields = parameterFields({ n: 1, lr: 0.1, on: true, name: 'a' }, { lr: 'float' });

  it('says which field a bad value is in', () => {
    let caught: unknown;
    try {
      parseField(fields[0], '2.5');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FieldError);
    expect((caught as FieldError).field).toBe('n');
    expect(() => parseField(fields[0], '')).toThrow('the field is empty');
  });

  it("checks a past run's value against the parameter as typed now", () => {
    expect(valueMismatch(fields[0], 2)).toBeNull();
    expect(valueMismatch(fields[0], 'x')).toBe(
      'n must be a whole number (the parameters cell now says n = 1), not "x"'
    );
    expect(valueMismatch(fields[0], 2.5)).toMatch(/^n must be a whole number/);
    expect(valueMismatch(fields[1], 3)).toBeNull(); // JSON's 3 for a float is fine
    expect(valueMismatch(fields[2], 1)).toMatch(/^on must be True or False/);
    expect(valueMismatch(fields[3], 5)).toMatch(/^name must be a string/);
  });
});
