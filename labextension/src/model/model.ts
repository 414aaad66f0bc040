/** The panel's state (followed notebook, graph, live step states, selection, runs, error) and its actions. */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { literalParameters } from './parameters';
import { RunFollower } from './runFollower';
import {
  IMlpipeTracker,
  RunScope,
  FINAL_STATUSES,
  IGraph,
  IPipelineClient,
  IPipelineDocument,
  IRun,
  IRunRequest,
  IStepFailure,
  IStepProgress,
  StepStatus
} from '../tokens';

/** Outcomes shown over a graph status: a success over "cached", a failure over "stale". */
const KEPT_OVER: Record<string, StepStatus> = {
  succeeded: 'cached',
  reused: 'cached',
  failed: 'stale',
  skipped: 'stale',
  cancelled: 'stale'
};

export interface IPipelineModelOptions {
  /** Milliseconds between polls of a run whose event stream failed. */
  pollInterval?: number;
}

export class PipelineModel implements IDisposable, IMlpipeTracker {
  constructor(client: IPipelineClient, options: IPipelineModelOptions = {}) {
    this._client = client;
    this._pollInterval = options.pollInterval ?? 500;
  }

  /** The graph was replaced (another notebook, a reload): draw everything again. */
  get graphChanged(): ISignal<this, IGraph | null> {
    return this._graphChanged;
  }

  /** The notebook's parameters cell was edited (saved or not): the form shows its values. */
  get parametersChanged(): ISignal<this, void> {
    return this._parametersChanged;
  }

  /** The parameters' values as the notebook now holds them: the saved ones, with the literal
   * values of the parameters cell as it is in the editor (`setParametersSource`). */
  get parameters(): Record<string, unknown> {
    const saved = this._graph?.parameters || {};
    const live = this._parametersSource === null ? {} : literalParameters(this._parametersSource);
    return Object.fromEntries(
      Object.entries(saved).map(([name, value]) => [name, name in live ? live[name] : value])
    );
  }

  /** The source of the followed notebook's parameters cell as the editor holds it. */
  setParametersSource(source: string | null): void {
    if (source !== this._parametersSource) {
      this._parametersSource = source;
      this._parametersChanged.emit();
    }
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

  /** The notebook gained or lost unsaved edits (the graph shows the saved version). */
  get dirtyChanged(): ISignal<this, boolean> {
    return this._dirtyChanged;
  }

  /** A failed step's traceback arrived. */
  get failureChanged(): ISignal<this, IStepFailure> {
    return this._failureChanged;
  }

  get dirty(): boolean {
    return this._dirty;
  }

  get client(): IPipelineClient {
    return this._client;
  }

  /** Steps of the run being followed, as last reported (for the k/N progress). */
  get progress(): readonly IStepProgress[] {
    return Object.values(this._progress);
  }

  /** When the followed run started (seconds since the epoch), or null. */
  get runStarted(): number | null {
    return this._runStarted;
  }

  /** The traceback of `step`'s last failure, once loaded. */
  failureOf(step: string): IStepFailure | undefined {
    return this._failures[step];
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
    this._failures = {};
    this._setLiveRun(null);
    this.setDirty(false);
    this._graphChanged.emit(null);
    if (!doc) {
      this._runs = null;
      this._runsChanged.emit(null);
      return;
    }
    void ready.then(() => this.refresh());
  }

  /**
   * A `%%step` cell of the followed notebook started or ended in its own kernel (an interactive
   * Run All, or one cell run): its node shows it live, without a save or a server round trip.
   */
  showCell(step: string, state: StepStatus): void {
    if (!this._graph?.steps.some(s => s.name === step) || this._states[step] === state) {
      return;
    }
    this._states = { ...this._states, [step]: state };
    this._statesChanged.emit(this._states);
  }

  /** The followed notebook was saved: its graph may have changed; finished colours end here. */
  documentSaved(): void {
    this.setDirty(false);
    if (!this._liveRun) {
      this._outcome = {};
      this._failures = {};
      void this.refresh();
    }
  }

  setDirty(dirty: boolean): void {
    if (dirty !== this._dirty) {
      this._dirty = dirty;
      this._dirtyChanged.emit(dirty);
    }
  }

  select(step: string | null): void {
    if (step === this._selected) {
      return;
    }
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
        // the last run's colours stay until an edit: green over cached, red/grey over stale
        const last = this._outcome[s.name];
        if (last && KEPT_OVER[last.state] === s.status) {
          this._states[s.name] = last.state;
        }
      }
      this._setError(graph.errors?.length ? new Error(graph.errors.join('\n')) : null);
      this._graphChanged.emit(graph);
      if (graph.active_run && !this._liveRun) {
        this._progress = {};
        this._watch(graph.active_run);
      }
    } catch (err) {
      this._graph = null;
      this._graphChanged.emit(null);
      this._setError(err);
    }
    await this._loadRuns();
  }

  /**
   * Start a run (saving the notebook first) and follow it live; `step` defaults to the selected
   * one. A refusal goes to the panel's error line, or with `rejectErrors` to the caller.
   */
  async run(
    scope: RunScope,
    step: string | null = this._selected,
    params?: Record<string, unknown>,
    options: { rejectErrors?: boolean } = {}
  ): Promise<void> {
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
    if (params && Object.keys(params).length) {
      body.params = params;
    }
    try {
      if (this._document?.dirty) {
        await this._document.save();
      }
      const run = await this._client.startRun(body);
      this._setError(null);
      this._progress = {};
      this._runStarted = run.started;
      this._applyRun(run);
      this._watch(run.run_id);
    } catch (err) {
      if (options.rejectErrors) {
        throw err; // the caller (a form) says it next to what caused it
      }
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

  /** Show `err` (or clear with null) as the panel's error. */
  report(err: unknown): void {
    this._setError(err);
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
      this._progress[s.name] = s;
      if (FINAL_STATUSES.has(s.state)) {
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
    this._follower = new RunFollower(this._client, path, runId, this._pollInterval, {
      onRun: run => {
        if (mine()) {
          this._runStarted = run.started ?? this._runStarted;
          this._applyRun(run);
        }
      },
      onEnded: ended => {
        const shown = mine();
        void this._finish(runId, path).then(() => {
          if (shown && ended?.error) {
            this._setError(new Error(ended.error));
          }
        });
      },
      onError: err => this._setError(err)
    });
    void this._loadRuns();
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
    for (const s of failed.filter(f => f.has_notebook)) {
      void this._client.getStepFailure(path, runId, s.name).then(
        failure => {
          if (this.path === path) {
            this._failures[s.name] = failure;
            this._failureChanged.emit(failure);
          }
        },
        () => undefined // no traceback to show: the message above stays
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
    this._follower?.dispose();
    this._follower = null;
  }

  private _setLiveRun(runId: string | null): void {
    if (runId && runId !== this._liveRun && this._runStarted == null) {
      this._runStarted = Date.now() / 1000;
    }
    if (!runId) {
      this._runStarted = null;
    }
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
  private _progress: Record<string, IStepProgress> = {};
  private _failures: Record<string, IStepFailure> = {};
  private _runStarted: number | null = null;
  private _dirty = false;
  private _selected: string | null = null;
  private _liveRun: string | null = null;
  private _runs: IRun[] | null = null;
  private _error: string | null = null;
  private _follower: RunFollower | null = null;
  private readonly _graphChanged = new Signal<this, IGraph | null>(this);
  private readonly _statesChanged = new Signal<this, Readonly<Record<string, StepStatus>>>(this);
  private readonly _selectionChanged = new Signal<this, string | null>(this);
  private readonly _runsChanged = new Signal<this, IRun[] | null>(this);
  private readonly _errorChanged = new Signal<this, string | null>(this);
  private readonly _liveRunChanged = new Signal<this, string | null>(this);
  private readonly _dirtyChanged = new Signal<this, boolean>(this);
  private readonly _failureChanged = new Signal<this, IStepFailure>(this);
  private readonly _parametersChanged = new Signal<this, void>(this);
  private _parametersSource: string | null = null;
}
