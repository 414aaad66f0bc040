/** Follows a running step's log (GET runs/ID/steps/STEP/log) from where it left off, about once a second, until stopped. */
import { IDisposable } from '@lumino/disposable';

import { IViewClient } from './client';

export class LiveLog implements IDisposable {
  constructor(
    client: IViewClient,
    path: string,
    runId: string,
    step: string,
    onText: (text: string) => void,
    interval = 700
  ) {
    this._tick = async () => {
      if (this._isDisposed) {
        return;
      }
      try {
        const log = await client.stepLog(path, runId, step, this._offset);
        if (this._isDisposed) {
          return;
        }
        this._offset = log.offset;
        if (log.text) {
          onText(log.text);
        }
        // more is waiting: ask again at once; otherwise in a moment
        this._timer = window.setTimeout(
          () => void this._tick(),
          log.offset < log.size ? 0 : interval
        );
      } catch {
        this._timer = window.setTimeout(() => void this._tick(), interval * 3);
      }
    };
    void this._tick();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Read what is left once more (the step ended), then stop. */
  async finish(): Promise<void> {
    window.clearTimeout(this._timer);
    await this._tick();
    this.dispose();
  }

  dispose(): void {
    this._isDisposed = true;
    window.clearTimeout(this._timer);
  }

  private readonly _tick: () => Promise<void>;
  private _offset = 0;
  private _timer = 0;
  private _isDisposed = false;
}
