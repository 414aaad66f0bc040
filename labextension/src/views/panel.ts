/** The sidebar panel: draws the model (graph, progress, step details, parameters, runs, error) and the jobs (sweep, schedules); its buttons execute commands. */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { CommandIDs } from '../tokens';
import { drawGraph, setStates } from './graph';
import { foldIdleRuns, togglePick } from '../model/history';
import { JobsModel } from '../model/jobs';
import { drawSchedules, drawSweep, ISweepSort } from './jobsPanel';
import { PipelineModel } from '../model/model';
import { parameterFields } from '../model/parameters';
import { drawParametersForm } from './paramsForm';
import { formatSeconds, lastRunText, progressText, runProgress } from '../model/progress';
import { IRun } from '../tokens';
import { GraphViewport } from './viewport';
import { onlyFailureOf } from './pipeline/status';

/** The toolbar: data-action (what tests click), command, label, extra classes. */
const BUTTONS: [string, string, string, string][] = [
  ['run-all', CommandIDs.runPipeline, 'Run pipeline', 'jp-mod-accept'],
  ['run-step', CommandIDs.runStep, 'Run step', ''],
  ['run-upto', CommandIDs.runUpTo, 'Run up to', ''],
  ['open-notebook', CommandIDs.openExecuted, 'Executed notebook', ''],
  ['debug', CommandIDs.debugStep, 'Debug in notebook', ''],
  ['cancel', CommandIDs.cancelRun, 'Cancel run', 'jp-mlpipe-cancel'],
  ['open-view', 'jupyter-mlpipe:open-pipeline-view', 'Open view', ''] // view/index.ts
];

/** Legend: every colour a node can have. */
const LEGEND: [string, string][] = [
  ['cached', 'cached'],
  ['stale', 'stale: will re-run'],
  ['stale" data-certain="false', 'may re-run'],
  ['pending', 'pending'],
  ['running', 'running'],
  ['succeeded', 'succeeded'],
  ['reused', 'reused'],
  ['failed', 'failed'],
  ['skipped', 'skipped'],
  ['cancelled', 'cancelled'],
  ['invalid', 'invalid']
];

export class PipelinePanel extends Widget {
  constructor(model: PipelineModel, jobs: JobsModel, commands: CommandRegistry) {
    super();
    this._model = model;
    this._jobs = jobs;
    this._commands = commands;
    this.id = 'jp-mlpipe-panel';
    this.addClass('jp-mlpipe-panel');
    this.title.caption = 'Pipeline (jupyter_mlpipe)';
    this.node.innerHTML = `
      <div class="jp-mlpipe-header"><b>Pipeline</b> <span class="jp-mlpipe-path"></span></div>
      <div class="jp-mlpipe-toolbar"></div>
      <div class="jp-mlpipe-dirty" hidden>Unsaved edits: the graph shows the saved notebook. Save (Ctrl+S) to update it.</div>
      <div class="jp-mlpipe-progress" hidden></div>
      <div class="jp-mlpipe-error" hidden></div>
      <div class="jp-mlpipe-zoom">
        <button data-action="zoom-fit" title="Fit the graph to the panel">Fit</button>
        <button data-action="zoom-in" title="Zoom in (Ctrl+wheel)">+</button>
        <button data-action="zoom-out" title="Zoom out (Ctrl+wheel)">−</button>
      </div>
      <div class="jp-mlpipe-graph"></div>
      <div class="jp-mlpipe-details"></div>
      <div class="jp-mlpipe-failure" hidden></div>
      <div class="jp-mlpipe-legend">${LEGEND.map(([s, label]) => `<span data-status="${s}">${label}</span>`).join('')}</div>
      <details class="jp-mlpipe-params"><summary><b>Parameters</b></summary><div class="jp-mlpipe-params-body"></div></details>
      <div class="jp-mlpipe-sweep" hidden></div>
      <div class="jp-mlpipe-runs-title"><b>Recent runs</b>
        <button data-action="compare" disabled title="Tick two runs to compare them">Compare</button>
        <button data-action="metrics" title="Metrics across runs as line charts">Metrics</button>
      </div>
      <ul class="jp-mlpipe-runs"></ul>
      <details class="jp-mlpipe-schedules"><summary><b>Schedules</b> <span class="jp-mlpipe-schedules-count"></span></summary><div class="jp-mlpipe-schedules-body"></div></details>`;
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
    this._on('zoom-fit', () => this._viewport?.fit());
    this._on('zoom-in', () => this._viewport?.zoom(1.4));
    this._on('zoom-out', () => this._viewport?.zoom(1 / 1.4));
    this._on('compare', () => {
      const [a, b] = this._picked;
      void commands.execute(CommandIDs.compareRuns, { a, b });
    });
    this._on('metrics', () => void commands.execute(CommandIDs.showMetrics));
    model.graphChanged.connect(this._render, this);
    model.parametersChanged.connect(this._renderParameters, this);
    model.statesChanged.connect(this._recolour, this);
    model.selectionChanged.connect(this._showSelection, this);
    model.runsChanged.connect((_, runs) => this._renderRuns(runs), this);
    model.errorChanged.connect((_, error) => this._showError(error), this);
    model.liveRunChanged.connect(this._showLive, this);
    model.dirtyChanged.connect(
      (_, dirty) => (this._part('.jp-mlpipe-dirty').hidden = !dirty),
      this
    );
    model.failureChanged.connect(() => this._renderDetails(), this);
    jobs.sweepChanged.connect(() => this._renderSweep(), this);
    jobs.schedulesChanged.connect(
      (_, rows) => drawSchedules(this._part('.jp-mlpipe-schedules'), rows),
      this
    );
    jobs.schedulesRevealed.connect(
      () => ((this._part('.jp-mlpipe-schedules') as HTMLDetailsElement).open = true),
      this
    );
    this._render();
    this._renderSweep();
    drawSchedules(this._part('.jp-mlpipe-schedules'), jobs.schedules);
    this._renderRuns(model.runs);
    this._showError(model.error);
    this._showLive();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this._viewport?.dispose();
    super.dispose();
  }

  private _part(selector: string): HTMLElement {
    return this.node.querySelector(selector) as HTMLElement;
  }

  private _on(action: string, handler: () => void): void {
    this._part(`button[data-action="${action}"]`).addEventListener('click', handler);
  }

  private _render(): void {
    const model = this._model;
    this._part('.jp-mlpipe-path').textContent = model.path || '(open a notebook)';
    const box = this._part('.jp-mlpipe-graph');
    this._viewport?.dispose();
    this._viewport = null;
    box.replaceChildren();
    this._part('.jp-mlpipe-details').textContent = '';
    this._part('.jp-mlpipe-failure').hidden = true;
    this._renderParameters();
    if (!model.graph) {
      return;
    }
    if (!model.graph.steps.length) {
      box.textContent = 'No %%step cells in this notebook.';
      return;
    }
    const svg = drawGraph(model.graph, model.states, model.selected, s => model.select(s));
    box.appendChild(svg);
    this._viewport = new GraphViewport(box, svg);
    this._renderDetails();
  }

  private _recolour(): void {
    const svg = this.node.querySelector('svg.jp-mlpipe-svg');
    if (svg) {
      setStates(svg, this._model.states);
    }
    const running = Object.entries(this._model.states).find(([, s]) => s === 'running');
    if (running) {
      this._viewport?.reveal(running[0]);
    }
    this._renderDetails();
    this._showProgress();
  }

  private _showSelection(_: PipelineModel, step: string | null): void {
    this.node
      .querySelectorAll('g.jp-mlpipe-node')
      .forEach(n => n.classList.toggle('jp-mod-selected', n.getAttribute('data-step') === step));
    if (step) {
      this._viewport?.reveal(step);
    }
    this._renderDetails();
  }

  private _renderDetails(): void {
    const model = this._model;
    const step = model.graph?.steps.find(s => s.name === model.selected);
    const live = step ? model.states[step.name] : undefined;
    const outcome = step && live ? model.outcomeOf(step.name) : undefined;
    this._part('.jp-mlpipe-details').textContent = step
      ? `${step.name}: ${live || (step.status === 'stale' && step.verdict) || step.status}` +
        (step.reasons.length && !live ? ` (${step.reasons.join('; ')})` : '') +
        (outcome?.duration != null ? ` in ${formatSeconds(outcome.duration)}` : '') +
        (outcome?.error && !model.failureOf(step.name) ? `\n${outcome.error}` : '') // the failure box says it
      : 'Click a step to select it and jump to its cell.';
    this._renderFailure(step && live === 'failed' ? step.name : null);
  }

  /** The selected failed step's traceback with its failing line, and its executed notebook one click away. */
  private _renderFailure(step: string | null): void {
    const box = this._part('.jp-mlpipe-failure');
    const failure = step ? this._model.failureOf(step) : undefined;
    box.hidden = !failure;
    this._failureShown = failure?.step ?? null;
    this._showError(this._model.error);
    if (!failure) {
      return;
    }
    box.dataset.step = failure.step;
    const head = document.createElement('div');
    head.className = 'jp-mlpipe-failure-head';
    head.textContent = `${failure.ename}: ${failure.evalue}`;
    const line = document.createElement('div');
    line.className = 'jp-mlpipe-failure-line';
    line.textContent =
      failure.line != null ? `line ${failure.line}: ${failure.line_text ?? ''}` : '';
    const open = document.createElement('button');
    open.className = 'jp-Button jp-mod-styled';
    open.dataset.action = 'open-failed-notebook';
    open.textContent = 'Open executed notebook';
    open.addEventListener(
      'click',
      () =>
        void this._commands.execute(CommandIDs.openExecuted, {
          step: failure.step,
          runId: failure.run_id
        })
    );
    const tb = document.createElement('details');
    tb.innerHTML = '<summary>Traceback</summary>';
    const pre = document.createElement('pre');
    pre.className = 'jp-mlpipe-traceback';
    pre.textContent = failure.traceback;
    tb.appendChild(pre);
    box.replaceChildren(head, line, open, tb);
  }

  private _renderParameters(): void {
    const body = this._part('.jp-mlpipe-params-body');
    const fields = parameterFields(this._model.parameters, this._model.graph?.parameter_types);
    this._part('.jp-mlpipe-params').hidden = !fields.length;
    // a sweep's values stay typed when the graph is drawn again (a run or sweep ended)
    const typed = new Map(
      Array.from(body.querySelectorAll<HTMLInputElement>('input[name]'), i => [i.name, i.value])
    );
    body.replaceChildren();
    if (fields.length) {
      body.appendChild(
        drawParametersForm(
          fields,
          {
            onRun: params =>
              this._commands.execute(CommandIDs.runWithParameters, {
                params: params as any,
                rejectErrors: true
              }),
            onSweep: ({ sweep, params }) =>
              this._commands.execute(CommandIDs.runSweep, {
                sweep: sweep as any,
                params: params as any,
                rejectErrors: true
              }),
            onSweepMode: on => (this._sweepMode = on)
          },
          this._sweepMode
        )
      );
      if (this._sweepMode) {
        body
          .querySelectorAll<HTMLInputElement>('input[name]')
          .forEach(i => (i.value = typed.get(i.name) ?? i.value));
      }
    }
  }

  /** The sweep's progress line, then its points sortable by a metric (a header click sorts; again reverses). */
  private _renderSweep(): void {
    const jobs = this._jobs;
    drawSweep(
      this._part('.jp-mlpipe-sweep'),
      jobs.sweep,
      jobs.sweepTotal,
      this._sweepSort,
      metric => {
        const again = this._sweepSort.metric === metric;
        this._sweepSort = { metric, descending: again ? !this._sweepSort.descending : false };
        this._renderSweep();
      }
    );
  }

  /** A run is followed (or ended): progress ticks each half second; Cancel is enabled only now. */
  private _showLive(): void {
    const live = !!this._model.liveRun;
    (this._part('button[data-action="cancel"]') as HTMLButtonElement).disabled = !live;
    window.clearInterval(this._timer);
    if (live) {
      this._timer = window.setInterval(() => this._showProgress(), 500);
    }
    this._showProgress();
  }

  private _showProgress(): void {
    const box = this._part('.jp-mlpipe-progress');
    const model = this._model;
    box.hidden = !model.progress.length;
    const p = runProgress(model.progress, model.runStarted, Date.now() / 1000);
    box.dataset.live = String(!!model.liveRun);
    box.textContent = model.liveRun ? progressText(p) : lastRunText(model.progress, p);
  }

  private _renderRuns(runs: IRun[] | null): void {
    const list = this._part('.jp-mlpipe-runs');
    this._picked = this._picked.filter(id => runs?.some(r => r.run_id === id));
    this._updateCompare();
    if (!runs) {
      list.replaceChildren();
      return;
    }
    list.replaceChildren(
      ...foldIdleRuns(runs).flatMap(({ run, folded }) => this._runRows(run, folded))
    );
    if (!runs.length) {
      list.innerHTML = '<li class="jp-mlpipe-empty">No runs yet.</li>';
    }
  }

  /** A run's row; runs that reused every step right after it are folded under a "+N" toggle. */
  private _runRows(run: IRun, folded: IRun[]): HTMLLIElement[] {
    const row = this._runRow(run);
    if (!folded.length) {
      return [row];
    }
    const rows = folded.map(r => this._runRow(r));
    const show = (open: boolean) => rows.forEach(r => (r.dataset.hiddenIdle = String(!open)));
    show(this._unfolded.has(run.run_id)); // stays open when the list is drawn again
    const toggle = document.createElement('button');
    toggle.dataset.action = 'unfold-runs';
    toggle.textContent = `+${folded.length}`;
    toggle.title = `${folded.length} more run(s) that only reused stored results: show or hide`;
    toggle.addEventListener('click', ev => {
      ev.stopPropagation();
      const open = !this._unfolded.delete(run.run_id);
      if (open) {
        this._unfolded.add(run.run_id);
      }
      show(open);
    });
    row.classList.add('jp-mlpipe-idle-runs');
    row.appendChild(toggle);
    return [row, ...rows];
  }

  private _runRow(r: IRun): HTMLLIElement {
    const li = document.createElement('li');
    li.dataset.runId = r.run_id;
    li.dataset.state = r.state;
    const pick = document.createElement('input');
    pick.type = 'checkbox';
    pick.title = 'Pick for compare';
    pick.checked = this._picked.includes(r.run_id);
    pick.addEventListener('click', ev => {
      ev.stopPropagation();
      this._picked = togglePick(this._picked, r.run_id);
      this.node.querySelectorAll<HTMLInputElement>('.jp-mlpipe-runs input').forEach(i => {
        i.checked = this._picked.includes(i.closest('li')!.dataset.runId!);
      });
      this._updateCompare();
    });
    const label = document.createElement('span');
    label.textContent = `${r.state} · ${formatSeconds(r.duration)} · ${r.run_id}`;
    if (r.trigger) {
      // "sweep ID point 2/6": the sweep's id as the jobs box, the CLI and REST give it
      const trigger = document.createElement('span');
      trigger.className = 'jp-mlpipe-run-trigger';
      trigger.textContent = r.trigger;
      label.append(trigger);
    }
    li.append(pick, label);
    li.title = `${new Date(r.started * 1000).toLocaleString()}: click to open this run`;
    li.addEventListener(
      'click',
      () => void this._commands.execute(CommandIDs.openRun, { runId: r.run_id })
    );
    return li;
  }

  private _updateCompare(): void {
    (this._part('button[data-action="compare"]') as HTMLButtonElement).disabled =
      this._picked.length !== 2;
  }

  /** The error line; a run's failure is not repeated while the failed step's box below says it. */
  private _showError(error: string | null): void {
    const box = this._part('.jp-mlpipe-error');
    box.hidden = !error || onlyFailureOf(error, this._failureShown);
    box.textContent = error || '';
  }

  private readonly _model: PipelineModel;
  private readonly _jobs: JobsModel;
  private readonly _commands: CommandRegistry;
  private _sweepMode = false;
  private _failureShown: string | null = null;
  private _sweepSort: ISweepSort = { metric: null, descending: false };
  private _viewport: GraphViewport | null = null;
  private _picked: string[] = [];
  private _unfolded = new Set<string>();
  private _timer = 0;
}
