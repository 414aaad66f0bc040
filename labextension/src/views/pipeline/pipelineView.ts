/** The main-area pipeline view: the followed notebook's graph at a legible size (zoom, pan, minimap), reuse marked apart from execution, and beside it the selected step's details (outputs, printed output, live log, metrics). The sidebar stays the compact summary; both draw the same model. */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { CommandIDs } from '../../tokens';
import { drawGraph, setStates } from '../graph';
import { PipelineModel } from '../../model/model';
import { progressText, runProgress } from '../../model/progress';
import { IViewClient } from './client';
import { GraphScroller } from './graphScroller';
import { StepDetails } from './stepDetails';
import { onlyFailureOf, STATUS_TEXT, statusIcon } from './status';
import { StepStatus } from '../../tokens';

const LEGEND: StepStatus[] = [
  'stale',
  'cached',
  'pending',
  'running',
  'succeeded',
  'reused',
  'failed',
  'skipped',
  'cancelled',
  'invalid'
];

export interface IPipelineViewOptions {
  model: PipelineModel;
  client: IViewClient;
  commands: CommandRegistry;
  goToCell(step: string): void;
  openRun(runId: string): void;
  openRunsTable(): void;
}

export class PipelineView extends Widget {
  constructor(o: IPipelineViewOptions) {
    super();
    this._o = o;
    this.addClass('jp-mlpipe-pview');
    this.node.tabIndex = -1;
    this.node.innerHTML = `
      <div class="jp-mlpipe-pview-toolbar">
        <span class="jp-mlpipe-pview-title"><b>Pipeline</b> <span class="jp-mlpipe-path"></span></span>
        <button class="jp-Button jp-mod-styled jp-mod-accept" data-action="run-all">Run pipeline</button>
        <button class="jp-Button jp-mod-styled" data-action="cancel">Cancel run</button>
        <span class="jp-mlpipe-progress"></span>
        <span class="jp-mlpipe-spacer"></span>
        <button class="jp-Button jp-mod-styled" data-action="runs-table">Runs table</button>
        <button class="jp-Button jp-mod-styled" data-action="metrics">Metrics</button>
      </div>
      <div class="jp-mlpipe-pview-legend">${LEGEND.map(
        s =>
          `<span data-status="${s}"><i>${statusIcon(s)}</i> ${STATUS_TEXT[s].replace(' (upstream failed)', '')}</span>`
      ).join('')}</div>
      <div class="jp-mlpipe-error" hidden></div>
      <div class="jp-mlpipe-pview-body">
        <div class="jp-mlpipe-pview-graphwrap">
          <div class="jp-mlpipe-pview-zoom">
            <button data-action="zoom-fit" title="Show the whole graph">Fit</button>
            <button data-action="zoom-out" title="Zoom out (Ctrl+wheel)">−</button>
            <button data-action="zoom-reset" title="Actual size">100%</button>
            <button data-action="zoom-in" title="Zoom in (Ctrl+wheel)">+</button>
          </div>
          <div class="jp-mlpipe-pview-graph"></div>
          <div class="jp-mlpipe-minimap" hidden title="The whole graph: click to go there"></div>
        </div>
        <div class="jp-mlpipe-pview-details"></div>
      </div>`;
    const on = (action: string, fn: () => void) =>
      this._part(`button[data-action="${action}"]`).addEventListener('click', fn);
    on('run-all', () => void o.commands.execute(CommandIDs.runPipeline));
    on('cancel', () => void o.commands.execute(CommandIDs.cancelRun));
    on('runs-table', () => o.openRunsTable());
    on('metrics', () => void o.commands.execute(CommandIDs.showMetrics));
    on('zoom-fit', () => this._scroller?.fit());
    on('zoom-in', () => this._scroller?.zoomBy(1.25));
    on('zoom-out', () => this._scroller?.zoomBy(1 / 1.25));
    on('zoom-reset', () => this._scroller?.setZoom(1));
    this._details = new StepDetails(this._part('.jp-mlpipe-pview-details'), {
      model: o.model,
      client: o.client,
      commands: o.commands,
      goToCell: step => o.goToCell(step),
      openRun: runId => o.openRun(runId)
    });
    const model = o.model;
    model.graphChanged.connect(this._render, this);
    model.statesChanged.connect(this._recolour, this);
    model.selectionChanged.connect(this._select, this);
    model.errorChanged.connect(this._showError, this);
    model.liveRunChanged.connect(this._showLive, this);
    model.failureChanged.connect(() => this._showDetails(false), this);
    this._render();
    this._showError();
    this._showLive();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearInterval(this._timer);
    this._scroller?.dispose();
    this._details.dispose();
    const model = this._o.model;
    model.graphChanged.disconnect(this._render, this);
    model.statesChanged.disconnect(this._recolour, this);
    model.selectionChanged.disconnect(this._select, this);
    model.errorChanged.disconnect(this._showError, this);
    model.liveRunChanged.disconnect(this._showLive, this);
    super.dispose();
  }

  /** Lumino calls this when the widget is first shown: size the graph to its box. */
  protected onAfterShow(): void {
    if (!this._scroller) {
      this._render();
    }
  }

  private _part(selector: string): HTMLElement {
    return this.node.querySelector(selector) as HTMLElement;
  }

  private _render(): void {
    const model = this._o.model;
    this._part('.jp-mlpipe-path').textContent = model.path || '(open a notebook)';
    this.title.label = model.path ? `Pipeline: ${model.path.split('/').pop()}` : 'Pipeline';
    const box = this._part('.jp-mlpipe-pview-graph');
    this._scroller?.dispose();
    this._scroller = null;
    if (!model.graph) {
      box.replaceChildren();
      this._details.show(null, false);
      return;
    }
    if (!model.graph.steps.length) {
      box.textContent = 'No %%step cells in this notebook.';
      return;
    }
    if (!this.isVisible && !box.isConnected) {
      return; // drawn in onAfterShow, once the box has a size
    }
    const svg = drawGraph(model.graph, model.states, model.selected, s => model.select(s));
    svg.classList.add('jp-mlpipe-pview-svg');
    this._scroller = new GraphScroller(box, svg, this._part('.jp-mlpipe-minimap'));
    if (model.selected) {
      this._scroller.reveal(model.selected);
    }
    this._showDetails(true);
  }

  private _recolour(): void {
    const svg = this._part('.jp-mlpipe-pview-graph svg');
    if (svg) {
      setStates(svg, this._o.model.states);
      this._scroller?.syncMinimap();
    }
    const selected = this._o.model.selected;
    const state = selected ? this._o.model.states[selected] : undefined;
    // a selected step that just finished gets its new outputs
    const ended = !!state && state !== this._lastState && !['pending', 'running'].includes(state);
    this._lastState = state;
    this._showDetails(ended);
    this._showError();
    this._showProgress();
  }

  private _select(_: PipelineModel, step: string | null): void {
    this.node
      .querySelectorAll('.jp-mlpipe-pview-graph g.jp-mlpipe-node')
      .forEach(n => n.classList.toggle('jp-mod-selected', n.getAttribute('data-step') === step));
    if (step) {
      this._scroller?.reveal(step);
    }
    this._lastState = step ? this._o.model.states[step] : undefined;
    this._showDetails(true);
    this._showError();
  }

  private _showDetails(refetch: boolean): void {
    const model = this._o.model;
    const step = model.graph?.steps.find(s => s.name === model.selected) ?? null;
    this._details.show(step, refetch);
  }

  /** The error line; a run's failure is not repeated while the failed step's pane says it. */
  private _showError(): void {
    const model = this._o.model;
    const box = this._part('.jp-mlpipe-error');
    const failedShown =
      model.selected && model.states[model.selected] === 'failed' ? model.selected : null;
    box.hidden = !model.error || onlyFailureOf(model.error, failedShown);
    box.textContent = model.error || '';
  }

  private _showLive(): void {
    const live = !!this._o.model.liveRun;
    (this._part('button[data-action="cancel"]') as HTMLButtonElement).disabled = !live;
    window.clearInterval(this._timer);
    if (live) {
      this._timer = window.setInterval(() => this._showProgress(), 500);
    }
    this._showProgress();
  }

  private _showProgress(): void {
    const model = this._o.model;
    const box = this._part('.jp-mlpipe-progress');
    box.textContent = model.progress.length
      ? (model.liveRun ? '' : 'Last run: ') +
        progressText(runProgress(model.progress, model.runStarted, Date.now() / 1000))
      : '';
  }

  private readonly _o: IPipelineViewOptions;
  private readonly _details: StepDetails;
  private _scroller: GraphScroller | null = null;
  private _lastState: string | undefined;
  private _timer = 0;
}
