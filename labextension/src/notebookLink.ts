/** Ties the model to JupyterLab's active notebook: follows it, reloads after saves, jumps to a selected step's cell. */
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { PipelineModel } from './model';
import { IPipelineDocument } from './tokens';

export class NotebookLink implements IDisposable {
  constructor(tracker: INotebookTracker, model: PipelineModel) {
    this._model = model;
    tracker.currentChanged.connect((_, nb) => this._follow(nb), this);
    model.selectionChanged.connect((_, step) => this._showCell(step), this);
    this._follow(tracker.currentWidget);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._notebook?.context.saveState.disconnect(this._onSave, this);
    Signal.clearData(this);
  }

  private _follow(nb: NotebookPanel | null): void {
    if (nb === this._notebook) {
      return;
    }
    this._notebook?.context.saveState.disconnect(this._onSave, this);
    this._notebook = nb;
    if (!nb) {
      this._model.follow(null);
      return;
    }
    const context = nb.context;
    context.saveState.connect(this._onSave, this);
    const doc: IPipelineDocument = {
      get path() {
        return context.path;
      },
      get dirty() {
        return context.model.dirty;
      },
      save: () => context.save()
    };
    this._model.follow(doc, context.ready);
  }

  private _onSave(_: unknown, state: DocumentRegistry.SaveState): void {
    if (state === 'completed') {
      this._model.documentSaved();
    }
  }

  /** Make the selected step's cell the active cell of the notebook. */
  private _showCell(step: string | null): void {
    const info = this._model.graph?.steps.find(s => s.name === step);
    const nb = this._notebook?.content;
    if (!info || !nb) {
      return;
    }
    let index = nb.widgets.findIndex(c => info.cell_id && c.model.id === info.cell_id);
    if (index < 0) {
      index = info.cell;
    }
    if (index >= 0 && index < nb.widgets.length) {
      nb.activeCellIndex = index;
      void nb.scrollToItem(index, 'center');
    }
  }

  private readonly _model: PipelineModel;
  private _notebook: NotebookPanel | null = null;
  private _isDisposed = false;
}
