/** The followed notebook's sweep (started from the panel, polled until it ends) and its schedules. */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ISweepRequest, pointCount } from './sweeps';
import { IJobsClient, ISchedule, ISweep } from '../tokens';

export interface IJobsModelOptions {
  /** Milliseconds between polls of a running sweep. */
  pollInterval?: number;
  /** Called when a sweep of the followed notebook ended (reload graph and runs). */
  onSweepEnded?: () => void;
}

export class JobsModel implements IDisposable {
  constructor(client: IJobsClient, options: IJobsModelOptions = {}) {
    this._client = client;
    this._pollInterval = options.pollInterval ?? 1000;
    this._onSweepEnded = options.onSweepEnded ?? (() => undefined);
  }

  /** The sweep started, advanced or ended; null when none is shown. */
  get sweepChanged(): ISignal<this, ISweep | null> {
    return this._sweepChanged;
  }

  /** The schedules were reloaded; null when no notebook is followed. */
  get schedulesChanged(): ISignal<this, ISchedule[] | null> {
    return this._schedulesChanged;
  }

  /** Someone asked to see the schedules (the command): the panel shows itself and opens the section. */
  get schedulesRevealed(): ISignal<this, void> {
    return this._schedulesRevealed;
  }

  /** Reload the schedules and ask the panel to show them. */
  async revealSchedules(): Promise<void> {
    this._schedulesRevealed.emit();
    await this.loadSchedules();
  }

  get sweep(): ISweep | null {
    return this._sweep;
  }

  /** How many points the shown sweep has. */
  get sweepTotal(): number {
    return this._total;
  }

  get schedules(): ISchedule[] | null {
    return this._schedules;
  }

  get path(): string | null {
    return this._path;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Follow another notebook (null: none): its schedules are loaded, another's sweep is no longer shown. */
  follow(path: string | null): void {
    if (path === this._path) {
      return;
    }
    this._path = path;
    this._stopPolling();
    this._setSweep(null);
    this._schedules = null;
    this._schedulesChanged.emit(null);
    this.loadSchedules().catch(() => undefined); // no list: the section says so
  }

  /** Reload the followed notebook's schedules. */
  async loadSchedules(): Promise<void> {
    const path = this._path;
    if (!path) {
      return;
    }
    try {
      const { schedules } = await this._client.listSchedules(path);
      if (path === this._path) {
        this._schedules = schedules.filter(s => s.notebook === path);
        this._schedulesChanged.emit(this._schedules);
      }
    } catch (err) {
      this._schedules = [];
      this._schedulesChanged.emit(this._schedules);
      throw err;
    }
  }

  /** Start a sweep of the followed notebook and poll it until it ends. */
  async startSweep(request: ISweepRequest): Promise<void> {
    const path = this._path;
    if (!path) {
      throw new Error('Open a notebook first.');
    }
    if (this._sweep?.state === 'running') {
      throw new Error(`Sweep ${this._sweep.sweep_id} is still running.`);
    }
    const body = Object.keys(request.params).length
      ? { path, sweep: request.sweep, params: request.params }
      : { path, sweep: request.sweep };
    const sweep = await this._client.startSweep(body);
    this._total = pointCount(request.sweep);
    this._sweepId = sweep.sweep_id;
    this._setSweep(sweep);
    this._poll(path, sweep.sweep_id);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stopPolling();
    Signal.clearData(this);
  }

  private _poll(path: string, sweepId: string): void {
    this._timer = setTimeout(async () => {
      const mine = () => path === this._path && sweepId === this._sweepId && !this._isDisposed;
      let sweep: ISweep;
      try {
        sweep = await this._client.getSweep(sweepId);
      } catch (err) {
        sweep = { ...this._sweep!, state: 'failed', error: String((err as Error).message || err) };
      }
      if (!mine()) {
        return;
      }
      this._setSweep({ ...sweep, sweep_id: sweepId }); // the id the server files it under
      if (sweep.state === 'running') {
        this._poll(path, sweepId);
      } else {
        this._onSweepEnded();
      }
    }, this._pollInterval);
  }

  private _stopPolling(): void {
    clearTimeout(this._timer);
    this._timer = undefined;
    this._sweepId = null;
  }

  private _setSweep(sweep: ISweep | null): void {
    this._sweep = sweep;
    this._sweepChanged.emit(sweep);
  }

  private readonly _client: IJobsClient;
  private readonly _pollInterval: number;
  private readonly _onSweepEnded: () => void;
  private _isDisposed = false;
  private _path: string | null = null;
  private _sweep: ISweep | null = null;
  private _sweepId: string | null = null;
  private _total = 0;
  private _schedules: ISchedule[] | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private readonly _sweepChanged = new Signal<this, ISweep | null>(this);
  private readonly _schedulesChanged = new Signal<this, ISchedule[] | null>(this);
  private readonly _schedulesRevealed = new Signal<this, void>(this);
}
