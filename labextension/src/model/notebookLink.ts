/** Ties the model to JupyterLab's active notebook: follows it, reloads after saves, jumps to a selected step's cell. */
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker, Notebook, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { PipelineModel } from './model';
import { stepCellOutcome, stepOfCell } from './stepCells';
import { IPipelineDocument } from '../tokens';

/** What NotebookActions.executed tells of the cell that ran (the part read here). */
interface IRanCell {
  model: { type: string; sharedModel: { getSource(): string }; toJSON(): unknown };
}

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
    this._unwatch();
    Signal.clearData(this);
  }

  private _follow(nb: NotebookPanel | null): void {
    if (nb === this._notebook) {
      return;
    }
    this._unwatch();
    this._notebook = nb;
    if (!nb) {
      this._model.follow(null);
      return;
    }
    const context = nb.context;
    context.saveState.connect(this._onSave, this);
    context.model.stateChanged.connect(this._onModelState, this);
    nb.content.activeCellChanged.connect(this._onActiveCell, this);
    nb.sessionContext.iopubMessage.connect(this._onIopub, this);
    context.model.contentChanged.connect(this._onContent, this);
    void context.ready.then(() => this._onContent());
    NotebookActions.executed.connect(this._onExecuted, this);
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

  private _unwatch(): void {
    this._notebook?.context.saveState.disconnect(this._onSave, this);
    this._notebook?.context.model?.stateChanged.disconnect(this._onModelState, this);
    this._notebook?.content.activeCellChanged.disconnect(this._onActiveCell, this);
    this._notebook?.sessionContext.iopubMessage.disconnect(this._onIopub, this);
    this._notebook?.context.model?.contentChanged.disconnect(this._onContent, this);
    NotebookActions.executed.disconnect(this._onExecuted, this);
  }

  /** The parameters cell as the editor holds it: the panel's form shows its values. */
  private _onContent(): void {
    const nb = this._notebook;
    if (!nb) {
      return;
    }
    const cell = nb.content.widgets.find(c => {
      const tags = c.model.getMetadata('tags');
      return Array.isArray(tags) && tags.includes('parameters');
    });
    this._model.setParametersSource(cell ? cell.model.sharedModel.getSource() : null);
  }

  /** The kernel starts a `%%step` cell (Run All queues every cell; this is when it runs). */
  private _onIopub(_: unknown, msg: KernelMessage.IMessage): void {
    if (msg.header.msg_type === 'execute_input') {
      const step = stepOfCell(String((msg.content as { code?: string }).code ?? ''));
      if (step) {
        this._model.showCell(step, 'running');
      }
    }
  }

  /** A `%%step` cell of the followed notebook ended: reused, succeeded or failed. */
  private _onExecuted(
    _: unknown,
    args: { notebook: Notebook; cell: IRanCell; success: boolean }
  ): void {
    if (args.notebook !== this._notebook?.content || args.cell.model.type !== 'code') {
      return;
    }
    const step = stepOfCell(args.cell.model.sharedModel.getSource());
    if (!step) {
      return;
    }
    const outputs =
      (args.cell.model.toJSON() as { outputs?: { text?: string | string[] }[] }).outputs ?? [];
    const printed = outputs
      .map(o => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
      .join('');
    this._model.showCell(step, stepCellOutcome(step, printed, args.success));
  }

  /** Moving to a step's cell in the notebook selects that step in the graph. */
  private _onActiveCell(): void {
    const nb = this._notebook?.content;
    const cell = nb?.activeCell;
    const steps = this._model.graph?.steps || [];
    const step =
      cell &&
      (steps.find(s => s.cell_id && s.cell_id === cell.model.id) ||
        steps.find(s => !s.cell_id && s.cell === nb!.activeCellIndex));
    if (step) {
      this._fromNotebook = true;
      this._model.select(step.name);
      this._fromNotebook = false;
    }
  }

  /** Unsaved edits: the panel says the graph shows the saved version. */
  private _onModelState(_: unknown, change: { name: string }): void {
    if (change.name === 'dirty' && this._notebook) {
      this._model.setDirty(this._notebook.context.model.dirty);
    }
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
    if (!info || !nb || this._fromNotebook) {
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
  private _fromNotebook = false;
}
