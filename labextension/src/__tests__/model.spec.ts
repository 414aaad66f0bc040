/** Unit spec of PipelineModel: a fake REST client and a fake event stream stand in for the server. */
import { latestExecutedRun } from '../model/history';
import { PipelineModel } from '../model/model';
import { stepCellOutcome, stepOfCell } from '../model/stepCells';
import {
  IEventStream,
  IGraph,
  IPipelineClient,
  IPipelineDocument,
  IRun,
  IStepProgress,
  StepStatus
} from '../tokens';

class FakeEvents implements IEventStream {
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners: Record<string, ((ev: MessageEvent) => void)[]> = {};

  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    (this.listeners[type] ||= []).push(listener);
  }

  close(): void {
    this.closed = true;
  }

  send(type: string, data: unknown): void {
    for (const listener of this.listeners[type] || []) {
      listener({ data: JSON.stringify(data) } as MessageEvent);
    }
  }
}

function step(name: string, status: StepStatus = 'stale'): IGraph['steps'][number] {
  return {
    name,
    cell: 0,
    cell_id: null,
    inputs: [],
    outputs: [],
    upstream: [],
    status,
    reasons: status === 'stale' ? ['never ran'] : [],
    duration: null
  };
}

function graph(statuses: Record<string, StepStatus>, activeRun: string | null = null): IGraph {
  const steps = Object.entries(statuses).map(([name, status]) => step(name, status));
  return { path: 'demo.ipynb', steps, edges: [], order: [], warnings: [], active_run: activeRun };
}

function progress(name: string, state: StepStatus, error: string | null = null): IStepProgress {
  return { name, state, duration: null, error, has_notebook: state === 'succeeded' };
}

function run(runId: string, steps: IStepProgress[], live = true): IRun {
  return {
    run_id: runId,
    state: live ? 'running' : 'succeeded',
    started: 0,
    finished: null,
    duration: null,
    live,
    steps
  };
}

/** A client whose answers the test sets; it records what the model asked. */
class FakeClient implements IPipelineClient {
  graph: IGraph = graph({ load: 'stale', join: 'stale' });
  runs: IRun[] = [];
  polled: IRun[] = [];
  streams: FakeEvents[] = [];
  started: unknown[] = [];
  cancelled: string[] = [];

  getGraph = jest.fn(async (_path: string) => this.graph);
  listRuns = jest.fn(async (_path: string, _limit?: number) => ({ runs: this.runs }));
  getRun = jest.fn(
    async (_path: string, runId: string) =>
      this.polled.shift() || this.runs.find(r => r.run_id === runId)!
  );
  startRun = jest.fn(async (body: unknown) => {
    this.started.push(body);
    return run('r1', [progress('load', 'pending'), progress('join', 'pending')]);
  });
  cancelRun = jest.fn(async (runId: string) => {
    this.cancelled.push(runId);
    return run(runId, []);
  });
  openEvents = jest.fn((_runId: string) => {
    const stream = new FakeEvents();
    this.streams.push(stream);
    return stream;
  });
  failures: string[] = [];
  getStepNotebook = jest.fn(async () => ({ cells: [] }));
  getStepFailure = jest.fn(async (_path: string, runId: string, name: string) => {
    this.failures.push(name);
    return {
      step: name,
      run_id: runId,
      ename: 'ValueError',
      evalue: 'boom',
      traceback: 'ValueError: boom',
      line: 2,
      line_text: 'raise ValueError'
    };
  });
  getRunRecord = jest.fn();
  compareRuns = jest.fn();
  metricsAcrossRuns = jest.fn();
}

function doc(path = 'demo.ipynb', dirty = false): IPipelineDocument & { saves: number } {
  return {
    path,
    dirty,
    saves: 0,
    save: jest.fn(async function (this: { saves: number }) {
      this.saves++;
    })
  };
}

/** Let pending promises (and zero-delay timers) settle. */
const settle = () => new Promise(resolve => setTimeout(resolve, 0));

describe('PipelineModel', () => {
  let client: FakeClient;
  let model: PipelineModel;

  beforeEach(() => {
    client = new FakeClient();
    model = new PipelineModel(client, { pollInterval: 5 });
  });

  afterEach(() => model.dispose());

  it('loads the graph and runs of the notebook it follows, emitting signals', async () => {
    const graphs: (IGraph | null)[] = [];
    const runLists: (IRun[] | null)[] = [];
    model.graphChanged.connect((_, g) => graphs.push(g));
    model.runsChanged.connect((_, r) => runLists.push(r));
    model.follow(doc());
    expect(model.path).toBe('demo.ipynb');
    await settle();
    expect(client.getGraph).toHaveBeenCalledWith('demo.ipynb');
    expect(graphs).toEqual([null, client.graph]);
    expect(model.graph!.steps.map(s => s.name)).toEqual(['load', 'join']);
    expect(runLists).toEqual([[]]);
    expect(model.error).toBeNull();
  });

  it('colours a step live as its %%step cell runs in the kernel (an interactive Run All)', async () => {
    model.follow(doc());
    await settle();
    const seen: string[] = [];
    model.statesChanged.connect((_, states) => seen.push(states.load));
    model.showCell('load', 'running');
    model.showCell('load', 'running'); // the same state twice: one signal
    model.showCell('load', 'reused');
    model.showCell('nope', 'running'); // not a step of this notebook: ignored
    expect(seen).toEqual(['running', 'reused']);
    expect(model.states.load).toBe('reused');
  });

  it('shows the parameters as the editor holds them, not as last saved', async () => {
    client.graph = { ...client.graph, parameters: { C: 1, n: 3 } };
    model.follow(doc());
    await settle();
    let changes = 0;
    model.parametersChanged.connect(() => changes++);
    expect(model.parameters).toEqual({ C: 1, n: 3 });
    model.setParametersSource('C = 0.5\nn = 3\nnew = 1');
    expect(model.parameters).toEqual({ C: 0.5, n: 3 }); // a name the saved graph lacks waits for a save
    expect(changes).toBe(1);
  });

  it('reports a failed graph load as an error and clears the graph', async () => {
    client.getGraph.mockRejectedValueOnce(new Error('400: not a notebook'));
    const errors: (string | null)[] = [];
    model.errorChanged.connect((_, e) => errors.push(e));
    model.follow(doc());
    await settle();
    expect(model.graph).toBeNull();
    expect(errors).toEqual(['400: not a notebook']);
  });

  it('asks for a notebook, then a selected step, before running one', async () => {
    await model.run('step');
    expect(model.error).toBe('Open a notebook first.');
    model.follow(doc());
    await settle();
    await model.run('upto');
    expect(model.error).toBe('Select a step in the graph first.');
    expect(client.startRun).not.toHaveBeenCalled();
  });

  it('runs the selected step, or a step and what it needs, saving a dirty notebook first', async () => {
    const notebook = doc('demo.ipynb', true);
    model.follow(notebook);
    await settle();
    const selections: (string | null)[] = [];
    model.selectionChanged.connect((_, s) => selections.push(s));
    model.select('join');
    expect(selections).toEqual(['join']);
    await model.run('step');
    await model.run('upto', 'load');
    expect(client.started).toEqual([
      { path: 'demo.ipynb', only: ['join'], force: true },
      { path: 'demo.ipynb', upto: 'load' }
    ]);
    expect(notebook.saves).toBe(2);
  });

  it('follows a run through its events: snapshot, steps, then the end', async () => {
    model.follow(doc());
    await settle();
    const recoloured: Record<string, StepStatus>[] = [];
    const live: (string | null)[] = [];
    model.statesChanged.connect((_, s) => recoloured.push({ ...s }));
    model.liveRunChanged.connect((_, r) => live.push(r));
    await model.run('all');
    expect(client.started).toEqual([{ path: 'demo.ipynb' }]);
    expect(model.liveRun).toBe('r1');
    expect(client.openEvents).toHaveBeenCalledWith('r1');
    const events = client.streams[0];
    events.send('snapshot', run('r1', [progress('load', 'running'), progress('join', 'pending')]));
    events.send('step', { run_id: 'r1', step: progress('load', 'succeeded') });
    expect(model.states).toEqual({ load: 'succeeded', join: 'pending' });
    events.send('step', { run_id: 'r1', step: progress('join', 'succeeded') });
    client.graph = graph({ load: 'cached', join: 'cached' });
    client.runs = [run('r1', [], false)];
    events.send('run', { run_id: 'r1', state: 'succeeded', error: null });
    await settle();
    expect(events.closed).toBe(true);
    expect(recoloured.map(s => s.load)).toEqual(['pending', 'running', 'succeeded', 'succeeded']);
    expect(live).toEqual(['r1', null]);
    expect(model.liveRun).toBeNull();
    // the reloaded graph says "cached"; the run's colours stay until the next edit
    expect(model.states).toEqual({ load: 'succeeded', join: 'succeeded' });
    expect(model.runs).toEqual(client.runs);
    expect(model.error).toBeNull();
    model.documentSaved();
    await settle();
    expect(model.states).toEqual({});
  });

  it('keeps a failed step red after the run and says why', async () => {
    model.follow(doc());
    await settle();
    await model.run('all');
    const events = client.streams[0];
    events.send('step', { run_id: 'r1', step: progress('load', 'succeeded') });
    events.send('step', { run_id: 'r1', step: progress('join', 'failed', 'ValueError: boom') });
    client.graph = graph({ load: 'cached', join: 'stale' });
    events.send('run', { run_id: 'r1', state: 'failed', error: null });
    await settle();
    expect(model.states).toEqual({ load: 'succeeded', join: 'failed' });
    expect(model.outcomeOf('join')!.error).toBe('ValueError: boom');
    expect(model.error).toBe('Run r1 failed:\nValueError: boom');
    // a save forgets the last run's outcome: the edited step is plain stale again
    model.documentSaved();
    await settle();
    expect(model.states).toEqual({});
  });

  it('polls the run when the event stream fails, until the run ends', async () => {
    model.follow(doc());
    await settle();
    await model.run('all');
    client.polled = [
      run('r1', [progress('load', 'running'), progress('join', 'pending')]),
      run('r1', [progress('load', 'succeeded'), progress('join', 'succeeded')])
    ];
    client.streams[0].onerror!(new Event('error'));
    expect(client.streams[0].closed).toBe(true);
    client.graph = graph({ load: 'cached', join: 'cached' });
    for (let i = 0; i < 50 && model.liveRun; i++) {
      await new Promise(resolve => setTimeout(resolve, 5));
    }
    expect(model.liveRun).toBeNull();
    expect(client.getRun).toHaveBeenCalledTimes(2);
    expect(model.graph!.steps.every(s => s.status === 'cached')).toBe(true);
  });

  it('follows a run already going on when the notebook is opened', async () => {
    client.graph = graph({ load: 'stale' }, 'r0');
    model.follow(doc());
    await settle();
    expect(model.liveRun).toBe('r0');
    expect(client.openEvents).toHaveBeenCalledWith('r0');
  });

  it('cancels the live run, and says so when there is none', async () => {
    model.follow(doc());
    await settle();
    await model.cancel();
    expect(model.error).toBe('No run of this notebook is going on.');
    await model.run('all');
    await model.cancel();
    expect(client.cancelled).toEqual(['r1']);
    expect(model.error).toBeNull();
  });

  it("finds the latest run that kept a step's executed notebook", async () => {
    client.runs = [
      run('r2', [progress('join', 'reused')], false),
      run('r1', [progress('join', 'succeeded')], false)
    ];
    model.follow(doc());
    await settle();
    expect(await latestExecutedRun(client, 'demo.ipynb', 'join')).toBe('r1');
    expect(await latestExecutedRun(client, 'demo.ipynb', 'load')).toBeNull();
  });

  it('stops watching a run when it follows another notebook', async () => {
    model.follow(doc());
    await settle();
    await model.run('all');
    model.follow(doc('other.ipynb'));
    expect(client.streams[0].closed).toBe(true);
    expect(model.liveRun).toBeNull();
    expect(model.states).toEqual({});
    model.follow(null);
    expect(model.path).toBeNull();
    expect(model.runs).toBeNull();
  });

  it('dispose closes the event stream, stops the poll and disconnects listeners', async () => {
    model.follow(doc());
    await settle();
    await model.run('all');
    const events = client.streams[0];
    const seen: unknown[] = [];
    model.statesChanged.connect((_, s) => seen.push(s));
    model.dispose();
    expect(model.isDisposed).toBe(true);
    expect(events.closed).toBe(true);
    events.send('step', { run_id: 'r1', step: progress('load', 'running') });
    expect(seen).toEqual([]);

    // a model polling a run stops polling when disposed
    const polling = new PipelineModel(client, { pollInterval: 5 });
    polling.follow(doc());
    await settle();
    await polling.run('all');
    client.polled = [];
    client.runs = [run('r1', [progress('load', 'running')])];
    client.streams[client.streams.length - 1].onerror!(new Event('error'));
    await new Promise(resolve => setTimeout(resolve, 20));
    polling.dispose();
    const calls = client.getRun.mock.calls.length;
    expect(calls).toBeGreaterThan(0);
    await new Promise(resolve => setTimeout(resolve, 30));
    expect(client.getRun.mock.calls.length).toBe(calls);
  });

  it("loads a failed step's traceback once the run ends", async () => {
    model.follow(doc());
    await settle();
    await model.run('all');
    const events = client.streams[0];
    const failure = { ...progress('join', 'failed', 'ValueError: boom'), has_notebook: true };
    events.send('step', { run_id: 'r1', step: failure });
    client.graph = graph({ load: 'cached', join: 'stale' });
    const loaded: string[] = [];
    model.failureChanged.connect((_, f) => loaded.push(f.step));
    events.send('run', { run_id: 'r1', state: 'failed', error: null });
    await settle();
    await settle();
    expect(loaded).toEqual(['join']);
    expect(model.failureOf('join')!.line_text).toBe('raise ValueError');
  });

  it('runs with parameters from the form, and tracks unsaved edits', async () => {
    model.follow(doc());
    await settle();
    const dirty: boolean[] = [];
    model.dirtyChanged.connect((_, d) => dirty.push(d));
    model.setDirty(true);
    model.setDirty(true);
    model.documentSaved();
    expect(dirty).toEqual([true, false]);
    await model.run('all', null, { scale: 3 });
    expect(client.started).toEqual([{ path: 'demo.ipynb', params: { scale: 3 } }]);
  });

  it('counts progress from the steps of the followed run', async () => {
    model.follow(doc());
    await settle();
    await model.run('all');
    client.streams[0].send('step', { run_id: 'r1', step: progress('load', 'succeeded') });
    expect(model.progress.map(s => s.state)).toEqual(['succeeded', 'pending']);
    expect(model.runStarted).toBe(0);
  });
});

describe('%%step cells run in the kernel', () => {
  it('names the step a cell runs and what its run did', () => {
    expect(stepOfCell('%%step train --in raw\nmodel = 1')).toBe('train');
    expect(stepOfCell('\n%%step  load-2 --out raw')).toBe('load-2');
    expect(stepOfCell('x = 1  # %%step train')).toBeNull();
    expect(
      stepCellOutcome('train', 'reused train (computed 2026-11-24 10:02, 1.0 s saved)\n', true)
    ).toBe('reused');
    expect(stepCellOutcome('train', 'stored train (1.0 s): ...\n', true)).toBe('succeeded');
    expect(stepCellOutcome('train', 'reused train (computed ...)', false)).toBe('failed');
  });
});
