/** The sidebar panel: draws the model (graph, step details, runs, error); its buttons execute commands. */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { CommandIDs } from './commands';
import { drawGraph, setStates } from './graph';
import { PipelineModel } from './model';
import { IRun } from './tokens';

/** The toolbar: data-action (what tests click), command, label, extra classes. */
const BUTTONS: [string, string, string, string][] = [
  ['run-all', CommandIDs.runPipeline, 'Run pipeline', 'jp-mod-accept'],
  ['run-step', CommandIDs.runStep, 'Run step', ''],
  ['run-upto', CommandIDs.runUpTo, 'Run up to', ''],
  ['open-notebook', CommandIDs.openExecuted, 'Executed notebook', ''],
  ['cancel', CommandIDs.cancelRun, 'Cancel run', 'jp-mod-warn']
];

export class PipelinePanel extends Widget {
  constructor(model: PipelineModel, commands: CommandRegistry) {
    super();
    this._model = model;
    this.id = 'jp-mlpipe-panel';
    this.addClass('jp-mlpipe-panel');
    this.title.caption = 'Pipeline (jupyter_mlpipe)';
    this.node.innerHTML = `
      <div class="jp-mlpipe-header"><b>Pipeline</b> <span class="jp-mlpipe-path"></span></div>
      <div class="jp-mlpipe-toolbar"></div>
      <div class="jp-mlpipe-error" hidden></div>
      <div class="jp-mlpipe-graph"></div>
      <div class="jp-mlpipe-details"></div>
      <div class="jp-mlpipe-legend">
        <span data-status="cached">cached</span><span data-status="stale">stale</span>
        <span data-status="running">running</span><span data-status="failed">failed</span>
        <span data-status="skipped">skipped</span>
      </div>
      <div class="jp-mlpipe-runs-title"><b>Recent runs</b></div>
      <ul class="jp-mlpipe-runs"></ul>`;
    const toolbar = this._part('.jp-mlpipe-toolbar');
    for (const [action, command, label, mod] of BUTTONS) {
      const button = document.createElement('button');
      button.className = `jp-Button jp-mod-styled ${mod}`.trim();
      button.dataset.action = action;
      button.dataset.command = command;
      button.textContent = label;
      button.title = commands.caption(command);
      button.addEventListener('click', () => void commands.execute(command));
      toolbar.appendChild(button);
    }
    model.graphChanged.connect(this._render, this);
    model.statesChanged.connect(this._recolour, this);
    model.selectionChanged.connect(this._showSelection, this);
    model.runsChanged.connect((_, runs) => this._renderRuns(runs), this);
    model.errorChanged.connect((_, error) => this._showError(error), this);
    this._render();
    this._renderRuns(model.runs);
    this._showError(model.error);
  }

  private _part(selector: string): HTMLElement {
    return this.node.querySelector(selector) as HTMLElement;
  }

  private _render(): void {
    const model = this._model;
    this._part('.jp-mlpipe-path').textContent = model.path || '(open a notebook)';
    const box = this._part('.jp-mlpipe-graph');
    box.replaceChildren();
    this._part('.jp-mlpipe-details').textContent = '';
    if (!model.graph) {
      return;
    }
    if (!model.graph.steps.length) {
      box.textContent = 'No %%step cells in this notebook.';
      return;
    }
    box.appendChild(drawGraph(model.graph, model.states, model.selected, s => model.select(s)));
    this._renderDetails();
  }

  private _recolour(): void {
    const svg = this.node.querySelector('svg.jp-mlpipe-svg');
    if (svg) {
      setStates(svg, this._model.states);
    }
    this._renderDetails();
  }

  private _showSelection(_: PipelineModel, step: string | null): void {
    this.node
      .querySelectorAll('g.jp-mlpipe-node')
      .forEach(n => n.classList.toggle('jp-mod-selected', n.getAttribute('data-step') === step));
    this._renderDetails();
  }

  private _renderDetails(): void {
    const model = this._model;
    const step = model.graph?.steps.find(s => s.name === model.selected);
    const live = step ? model.states[step.name] : undefined;
    const error = step && live ? model.outcomeOf(step.name)?.error : null;
    this._part('.jp-mlpipe-details').textContent = step
      ? `${step.name}: ${live || step.status}` +
        (step.reasons.length && !live ? ` (${step.reasons.join('; ')})` : '') +
        (error ? `\n${error}` : '')
      : 'Click a step to select it and jump to its cell.';
  }

  private _renderRuns(runs: IRun[] | null): void {
    const list = this._part('.jp-mlpipe-runs');
    if (!runs) {
      list.replaceChildren();
      return;
    }
    list.replaceChildren(
      ...runs.map(r => {
        const li = document.createElement('li');
        li.dataset.runId = r.run_id;
        li.dataset.state = r.state;
        const secs = r.duration == null ? '' : `${r.duration.toFixed(1)} s`;
        li.textContent = `${r.state} · ${secs} · ${r.run_id}`;
        li.title = new Date(r.started * 1000).toLocaleString();
        return li;
      })
    );
    if (!runs.length) {
      list.innerHTML = '<li class="jp-mlpipe-empty">No runs yet.</li>';
    }
  }

  private _showError(error: string | null): void {
    const box = this._part('.jp-mlpipe-error');
    box.hidden = !error;
    box.textContent = error || '';
  }

  private readonly _model: PipelineModel;
}
