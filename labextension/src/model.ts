/** The panel's state (followed notebook, graph, live step states, selection, runs, error) and its actions. */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  FINAL_STATUSES,
  IEventStream,
  IGraph,
  IPipelineClient,
  IPipelineDocument,
  IRun,
  IRunEnded,
  IRunRequest,
  IStepProgress,
  StepStatus
} from './tokens';

/** What a run button runs: every step, the selected step again, or it and what it needs. */
export type RunScope = 'all' | 'step' | 'upto';

export interface IPipelineModelOptions {
  /** Milliseconds between polls of a run whose event stream failed. */
  pollInterval?: number;
}

export class PipelineModel implements IDisposable {
  constructor(client: IPipelineClient, options: IPipelineModelOptions = {}) {
    this._client = client;
    this._pollInterval = options.pollInterval ?? 500;
  }

  /** The graph was replaced (another notebook, a reload): draw everything again. */
  get graphChanged(): ISignal<this, IGraph | null> {
    return this._graphChanged;
  }

  /** Steps changed state during a run: recolour them. */
  get statesChanged(): ISignal<this, Readonly<Record<string, StepStatus>>> {
    return this._statesChanged;
  }

  get selectionChanged(): ISignal<this, string | null> {
    return this._selectionChanged;
  }

  /** The recent runs were reloaded; null when no notebook is followed. */
  get runsChanged(): ISignal<this, IRun[] | null> {
    return this._runsChanged;
  }

  get errorChanged(): ISignal<this, string | null> {
    return this._errorChanged;
  }

  /** A run started being followed (its id) or ended (null). */
  get liveRunChanged(): ISignal<this, string | null> {
    return this._liveRunChanged;
  }

  get path(): string | null {
    return this._document ? this._document.path : null;
  }

  get graph(): IGraph | null {
    return this._graph;
  }

  /** States shown over the graph's own statuses: this run's, or a failure kept from the last. */
  get states(): Readonly<Record<string, StepStatus>> {
    return this._states;
  }

  get selected(): string | null {
    return this._selected;
  }

  get liveRun(): string | null {
    return this._liveRun;
  }

  get runs(): IRun[] | null {
    return this._runs;
  }

  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** How `step` failed or was skipped in the last run, if it did. */
  outcomeOf(step: string): IStepProgress | undefined {
    return this._outcome[step];
  }

  /** Follow `doc` (null: none); load its graph once `ready` resolves. A run of the last one goes on unwatched. */
  follow(doc: IPipelineDocument | null, ready: Promise<unknown> = Promise.resolve()): void {
    this._stopWatching();
    this._document = doc;
    this._graph = null;
    this._selected = null;
    this._states = {};
    this._outcome = {};
    this._setLiveRun(null);
    this._graphChanged.emit(null);
    if (!doc) {
      this._runs = null;
      this._runsChanged.emit(null);
      return;
    }
    void ready.then(() => this.refresh());
  }

  /** The followed notebook was saved: its graph may have changed. */
  documentSaved(): void {
    if (!this._liveRun) {
      this._outcome = {};
      void this.refresh();
    }
  }

  select(step: string | null): void {
    this._selected = step;
    this._selectionChanged.emit(step);
  }

  /** Reload graph and runs from the server; follow the notebook's run if one goes on. */
  async refresh(): Promise<void> {
    const path = this.path;
    if (!path) {
      return;
    }
    try {
      const graph = await this._client.getGraph(path);
      if (path !== this.path) {
        return;
      }
      this._graph = graph;
      this._states = {};
      for (const s of graph.steps) {
        // a step that failed (or was skipped) in the last run stays red (grey) until it runs again
        const last = this._outcome[s.name];
        if (last && s.status === 'stale') {
          this._states[s.name] = last.state;
        }
      }
      this._setError(null);
      this._graphChanged.emit(graph);
      if (graph.active_run && !this._liveRun) {
        this._watch(graph.active_run);
      }
    } catch (err) {
      this._graph = null;
      this._graphChanged.emit(null);
      this._setError(err);
    }
    await this._loadRuns();
  }

  /** Start a run (saving the notebook first) and follow it live; `step` defaults to the selected one. */
  async run(scope: RunScope, step: string | null = this._selected): Promise<void> {
    const path = this.path;
    if (!path) {
      return this._setError(new Error('Open a notebook first.'));
    }
    if (scope !== 'all' && !step) {
      return this._setError(new Error('Select a step in the graph first.'));
    }
    const body: IRunRequest =
      scope === 'all'
        ? { path }
        : scope === 'step'
          ? { path, only: [step!], force: true }
          : { path, upto: step! };
    try {
      if (this._document?.dirty) {
        await this._document.save();
      }
      const run = await this._client.startRun(body);
      this._setError(null);
      this._applyRun(run);
      this._watch(run.run_id);
    } catch (err) {
      this._setError(err);
    }
  }

  /** Ask the server to stop the run going on. */
  async cancel(): Promise<void> {
    if (!this.path) {
      return this._setError(new Error('Open a notebook first.'));
    }
    if (!this._liveRun) {
      return this._setError(new Error('No run of this notebook is going on.'));
    }
    try {
      await this._client.cancelRun(this._liveRun);
      this._setError(null);
    } catch (err) {
      this._setError(err);
    }
  }

  /** The page of `step`'s executed notebook from its latest run that has one; null (and an error) if none. */
  async executedNotebookUrl(step: string | null = this._selected): Promise<string | null> {
    const path = this.path;
    if (!path) {
      this._setError(new Error('Open a notebook first.'));
      return null;
    }
    if (!step) {
      this._setError(new Error('Select a step in the graph first.'));
      return null;
    }
    try {
      const { runs } = await this._client.listRuns(path, 10);
      for (const r of runs) {
        const run = await this._client.getRun(path, r.run_id);
        if (run.steps?.some(s => s.name === step && s.has_notebook)) {
          this._setError(null);
          return this._client.stepNotebookUrl(path, run.run_id, step);
        }
      }
      this._setError(new Error(`No executed notebook for '${step}' yet: it was reused or never ran.`));
    } catch (err) {
      this._setError(err);
    }
    return null;
  }

  /** Stop following runs (closing the event stream, stopping the poll) and drop all listeners. */
  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stopWatching();
    Signal.clearData(this);
  }

  private _applyRun(run: Pick<IRun, 'steps'>): void {
    const states = { ...this._states };
    for (const s of run.steps || []) {
      states[s.name] = s.state;
      if (s.state === 'failed' || s.state === 'skipped') {
        this._outcome[s.name] = s;
      } else {
        delete this._outcome[s.name];
      }
    }
    this._states = states;
    this._statesChanged.emit(states);
  }

  /** Follow a live run: server-sent events, falling back to polling. */
  private _watch(runId: string): void {
    this._stopWatching();
    this._setLiveRun(runId);
    const path = this.path!;
    const mine = () => this.path === path && this._liveRun === runId;
    const source = this._client.openEvents(runId);
    this._events = source;
    source.addEventListener('snapshot', ev => {
      if (mine()) {
        this._applyRun(JSON.parse(ev.data) as IRun);
      }
    });
    source.addEventListener('step', ev => {
      if (mine()) {
        this._applyRun({ steps: [JSON.parse(ev.data).step as IStepProgress] });
      }
    });
    source.addEventListener('run', ev => {
      this._closeEvents(source);
      const ended = JSON.parse(ev.data) as IRunEnded;
      const shown = mine();
      void this._finish(runId, path).then(() => {
        if (shown && ended.error) {
          this._setError(new Error(ended.error));
        }
      });
    });
    source.onerror = () => {
      this._closeEvents(source);
      if (mine()) {
        this._pollRun(runId, path);
      }
    };
    void this._loadRuns();
  }

  /** Poll the run until it ends (the event stream failed). */
  private _pollRun(runId: string, path: string): void {
    const poll = new Poll({
      factory: async () => {
        let ended = false;
        try {
          const run = await this._client.getRun(path, runId);
          if (this._poll !== poll) {
            return;
          }
          this._applyRun(run);
          ended = !run.live || (run.steps || []).every(s => FINAL_STATUSES.has(s.state));
        } catch (err) {
          this._setError(err);
          ended = true;
        }
        if (ended && this._poll === poll) {
          this._stopPolling();
          await this._finish(runId, path);
        }
      },
      frequency: { interval: this._pollInterval, backoff: false },
      name: 'jupyter-mlpipe:run',
      standby: 'never'
    });
    this._stopPolling();
    this._poll = poll;
  }

  /** The run ended: reload, and say which steps failed. */
  private async _finish(runId: string, path: string): Promise<void> {
    if (this.path !== path || this._liveRun !== runId) {
      return;
    }
    this._setLiveRun(null);
    await this.refresh();
    const failed = Object.values(this._outcome).filter(s => s.state === 'failed');
    if (failed.length) {
      this._setError(
        new Error(`Run ${runId} failed:\n` + failed.map(s => s.error || s.name).join('\n'))
      );
    }
  }

  private async _loadRuns(): Promise<void> {
    const path = this.path;
    if (!path) {
      return;
    }
    try {
      const { runs } = await this._client.listRuns(path);
      if (path === this.path) {
        this._runs = runs;
        this._runsChanged.emit(runs);
      }
    } catch (err) {
      this._setError(err);
    }
  }

  private _stopWatching(): void {
    this._closeEvents(this._events);
    this._stopPolling();
  }

  private _closeEvents(source: IEventStream | null): void {
    source?.close();
    if (source === this._events) {
      this._events = null;
    }
  }

  private _stopPolling(): void {
    this._poll?.dispose();
    this._poll = null;
  }

  private _setLiveRun(runId: string | null): void {
    if (runId !== this._liveRun) {
      this._liveRun = runId;
      this._liveRunChanged.emit(runId);
    }
  }

  private _setError(err: unknown): void {
    const message = err ? String((err as Error).message || err) : null;
    if (message !== this._error) {
      this._error = message;
      this._errorChanged.emit(message);
    }
  }

  private readonly _client: IPipelineClient;
  private readonly _pollInterval: number;
  private _isDisposed = false;
  private _document: IPipelineDocument | null = null;
  private _graph: IGraph | null = null;
  private _states: Record<string, StepStatus> = {};
  private _outcome: Record<string, IStepProgress> = {};
  private _selected: string | null = null;
  private _liveRun: string | null = null;
  private _runs: IRun[] | null = null;
  private _error: string | null = null;
  private _events: IEventStream | null = null;
  private _poll: Poll | null = null;
  private readonly _graphChanged = new Signal<this, IGraph | null>(this);
  private readonly _statesChanged = new Signal<this, Readonly<Record<string, StepStatus>>>(this);
  private readonly _selectionChanged = new Signal<this, string | null>(this);
  private readonly _runsChanged = new Signal<this, IRun[] | null>(this);
  private readonly _errorChanged = new Signal<this, string | null>(this);
  private readonly _liveRunChanged = new Signal<this, string | null>(this);
}
