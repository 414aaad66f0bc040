/** Follows one live run: its server-sent events, falling back to polling when the stream fails. */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';

import {
  FINAL_STATUSES,
  IEventStream,
  IPipelineClient,
  IRun,
  IRunEnded,
  IStepProgress
} from '../tokens';

export interface IRunFollowerCallbacks {
  /** Steps changed (a snapshot, one step, or a polled run). */
  onRun(run: Pick<IRun, 'steps'> & { started?: number }): void;
  /** The run ended; the final event when the stream gave one. */
  onEnded(ended: IRunEnded | null): void;
  onError(err: unknown): void;
}

export class RunFollower implements IDisposable {
  constructor(
    client: IPipelineClient,
    path: string,
    runId: string,
    pollInterval: number,
    callbacks: IRunFollowerCallbacks
  ) {
    this._client = client;
    this._path = path;
    this._runId = runId;
    this._pollInterval = pollInterval;
    this._callbacks = callbacks;
    const source = client.openEvents(runId);
    this._events = source;
    source.addEventListener('snapshot', ev => this._report(JSON.parse(ev.data) as IRun));
    source.addEventListener('step', ev =>
      this._report({ steps: [JSON.parse(ev.data).step as IStepProgress] })
    );
    source.addEventListener('run', ev => {
      this._closeEvents();
      if (!this._isDisposed) {
        this._isDisposed = true;
        callbacks.onEnded(JSON.parse(ev.data) as IRunEnded);
      }
    });
    source.onerror = () => {
      this._closeEvents();
      if (!this._isDisposed) {
        this._startPolling();
      }
    };
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    this._isDisposed = true;
    this._closeEvents();
    this._poll?.dispose();
    this._poll = null;
  }

  private _report(run: Pick<IRun, 'steps'> & { started?: number }): void {
    if (!this._isDisposed) {
      this._callbacks.onRun(run);
    }
  }

  /** Poll the run until it ends (the event stream failed). */
  private _startPolling(): void {
    const poll = new Poll({
      factory: async () => {
        let ended = false;
        try {
          const run = await this._client.getRun(this._path, this._runId);
          if (this._poll !== poll || this._isDisposed) {
            return;
          }
          this._report(run);
          ended = !run.live || (run.steps || []).every(s => FINAL_STATUSES.has(s.state));
        } catch (err) {
          this._callbacks.onError(err);
          ended = true;
        }
        if (ended && this._poll === poll && !this._isDisposed) {
          this.dispose();
          this._callbacks.onEnded(null);
        }
      },
      frequency: { interval: this._pollInterval, backoff: false },
      name: 'jupyter-mlpipe:run',
      standby: 'never'
    });
    this._poll = poll;
  }

  private _closeEvents(): void {
    this._events?.close();
    this._events = null;
  }

  private readonly _client: IPipelineClient;
  private readonly _path: string;
  private readonly _runId: string;
  private readonly _pollInterval: number;
  private readonly _callbacks: IRunFollowerCallbacks;
  private _events: IEventStream | null = null;
  private _poll: Poll | null = null;
  private _isDisposed = false;
}
