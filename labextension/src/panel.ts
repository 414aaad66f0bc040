/** The sidebar panel: follows the active notebook, draws its pipeline, runs it, lists runs. */
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { drawGraph, setStates } from './graph';

const FINAL = new Set(['succeeded', 'reused', 'failed', 'skipped']);

export class PipelinePanel extends Widget {
  constructor(tracker: INotebookTracker) {
    super();
    this.id = 'jp-mlpipe-panel';
    this.addClass('jp-mlpipe-panel');
    this.title.caption = 'Pipeline (jupyter_mlpipe)';
    this.node.innerHTML = `
      <div class="jp-mlpipe-header"><b>Pipeline</b> <span class="jp-mlpipe-path"></span></div>
      <div class="jp-mlpipe-toolbar">
        <button class="jp-Button jp-mod-styled jp-mod-accept" data-action="run-all" title="Run every step (cached ones are reused)">Run pipeline</button>
        <button class="jp-Button jp-mod-styled" data-action="run-step" title="Execute the selected step again (its inputs come from the cache)">Run step</button>
        <button class="jp-Button jp-mod-styled" data-action="run-upto" title="Run the selected step and every step it needs, reusing what is cached">Run up to</button>
        <button class="jp-Button jp-mod-styled" data-action="open-notebook" title="Open the executed notebook of the selected step from its latest run">Executed notebook</button>
        <button class="jp-Button jp-mod-styled jp-mod-warn" data-action="cancel" title="Stop the run going on: running steps are stopped, finished ones stay stored">Cancel run</button>
      </div>
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
    this.node.querySelectorAll('button[data-action]').forEach(b =>
      b.addEventListener('click', () => this.onAction((b as HTMLElement).dataset.action!))
    );
    tracker.currentChanged.connect(() => this.follow(tracker.currentWidget), this);
    this.follow(tracker.currentWidget);
  }

  /** Track `nb`: refresh now and after each save. */
  private follow(nb: NotebookPanel | null): void {
    if (nb === this.notebook) {
      return;
    }
    if (this.notebook) {
      this.notebook.context.saveState.disconnect(this.onSave, this);
    }
    this.notebook = nb;
    this.graph = null;
    this.selected = null;
    this.states = {};
    this.outcome = {};
    this.liveRun = null; // a run of the previous notebook goes on; its events are ignored
    if (!nb) {
      this.render();
      return;
    }
    nb.context.saveState.connect(this.onSave, this);
    void nb.context.ready.then(() => this.refresh());
  }

  private onSave(_: unknown, state: DocumentRegistry.SaveState): void {
    if (state === 'completed' && !this.liveRun) {
      this.outcome = {};
      void this.refresh();
    }
  }

  private get path(): string | null {
    return this.notebook ? this.notebook.context.path : null;
  }

  /** Reload graph, status and runs from the server. */
  async refresh(): Promise<void> {
    const path = this.path;
    if (!path) {
      return;
    }
    try {
      const graph = await api.getGraph(path);
      if (path !== this.path) {
        return;
      }
      this.graph = graph;
      this.states = {};
      for (const s of graph.steps) {
        // a step that failed (or was skipped) in the last run stays red (grey) until it runs again
        const last = this.outcome[s.name];
        if (last && s.status === 'stale') {
          this.states[s.name] = last.state;
        }
      }
      this.showError(null);
      this.render();
      if (graph.active_run && !this.liveRun) {
        this.watch(graph.active_run);
      }
    } catch (err) {
      this.graph = null;
      this.render();
      this.showError(err);
    }
    await this.loadRuns();
  }

  private render(): void {
    const path = this.node.querySelector('.jp-mlpipe-path')!;
    path.textContent = this.path || '(open a notebook)';
    const box = this.node.querySelector('.jp-mlpipe-graph')!;
    box.replaceChildren();
    this.node.querySelector('.jp-mlpipe-details')!.textContent = '';
    if (!this.graph) {
      return;
    }
    if (!this.graph.steps.length) {
      box.textContent = 'No %%step cells in this notebook.';
      return;
    }
    box.appendChild(drawGraph(this.graph, this.states, this.selected, s => this.select(s)));
    this.renderDetails();
  }

  private renderDetails(): void {
    const box = this.node.querySelector('.jp-mlpipe-details')!;
    const step = this.graph?.steps.find(s => s.name === this.selected);
    const error = step && this.states[step.name] ? this.outcome[step.name]?.error : null;
    box.textContent = step
      ? `${step.name}: ${this.states[step.name] || step.status}` +
        (step.reasons.length && !this.states[step.name] ? ` (${step.reasons.join('; ')})` : '') +
        (error ? `\n${error}` : '')
      : 'Click a step to select it and jump to its cell.';
  }

  /** Select a step and make its cell the active cell of the notebook. */
  private select(step: string): void {
    this.selected = step;
    this.node
      .querySelectorAll('g.jp-mlpipe-node')
      .forEach(n => n.classList.toggle('jp-mod-selected', n.getAttribute('data-step') === step));
    this.renderDetails();
    const info = this.graph?.steps.find(s => s.name === step);
    const nb = this.notebook?.content;
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

  private async onAction(action: string): Promise<void> {
    const path = this.path;
    if (!path) {
      return this.showError(new Error('Open a notebook first.'));
    }
    if (action === 'cancel') {
      if (!this.liveRun) {
        return this.showError(new Error('No run of this notebook is going on.'));
      }
      try {
        await api.cancelRun(this.liveRun);
        this.showError(null);
      } catch (err) {
        this.showError(err);
      }
      return;
    }
    if (action !== 'run-all' && !this.selected) {
      return this.showError(new Error('Select a step in the graph first.'));
    }
    if (action === 'open-notebook') {
      return this.openExecuted(path, this.selected!);
    }
    const body =
      action === 'run-all'
        ? { path }
        : action === 'run-step'
          ? { path, only: [this.selected!], force: true }
          : { path, upto: this.selected! };
    try {
      if (this.notebook?.context.model.dirty) {
        await this.notebook.context.save();
      }
      const run = await api.startRun(body);
      this.showError(null);
      this.applyRun(run);
      this.watch(run.run_id);
    } catch (err) {
      this.showError(err);
    }
  }

  private async openExecuted(path: string, step: string): Promise<void> {
    try {
      const { runs } = await api.listRuns(path, 10);
      for (const r of runs) {
        const run = await api.getRun(path, r.run_id);
        if (run.steps?.some(s => s.name === step && s.has_notebook)) {
          window.open(api.stepNotebookUrl(path, run.run_id, step), '_blank');
          return this.showError(null);
        }
      }
      this.showError(new Error(`No executed notebook for '${step}' yet: it was reused or never ran.`));
    } catch (err) {
      this.showError(err);
    }
  }

  private applyRun(run: api.IRun): void {
    for (const s of run.steps || []) {
      this.states[s.name] = s.state;
      if (s.state === 'failed' || s.state === 'skipped') {
        this.outcome[s.name] = s;
      } else {
        delete this.outcome[s.name];
      }
    }
    const svg = this.node.querySelector('svg.jp-mlpipe-svg');
    if (svg) {
      setStates(svg, this.states);
    }
    this.renderDetails();
  }

  /** Follow a live run: server-sent events, falling back to polling. */
  private watch(runId: string): void {
    this.liveRun = runId;
    const path = this.path;
    const mine = () => this.path === path && this.liveRun === runId;
    const finish = async () => {
      if (!mine()) {
        return;
      }
      this.liveRun = null;
      await this.refresh();
      const failed = Object.values(this.outcome).filter(s => s.state === 'failed');
      if (failed.length) {
        this.showError(
          new Error(`Run ${runId} failed:\n` + failed.map(s => s.error || s.name).join('\n'))
        );
      }
    };
    const source = new EventSource(api.eventsUrl(runId));
    source.addEventListener('snapshot', ev => {
      if (mine()) {
        this.applyRun(JSON.parse((ev as MessageEvent).data));
      }
    });
    source.addEventListener('step', ev => {
      if (!mine()) {
        return;
      }
      const step = JSON.parse((ev as MessageEvent).data).step as api.IStepProgress;
      this.applyRun({ steps: [step] } as api.IRun);
    });
    source.addEventListener('run', ev => {
      source.close();
      const data = JSON.parse((ev as MessageEvent).data);
      const shown = mine();
      void finish().then(() => shown && data.error && this.showError(new Error(data.error)));
    });
    source.onerror = () => {
      source.close();
      void this.poll(runId, finish);
    };
    void this.loadRuns();
  }

  private async poll(runId: string, finish: () => Promise<void>): Promise<void> {
    const path = this.path;
    while (path && this.liveRun === runId) {
      try {
        const run = await api.getRun(path, runId);
        this.applyRun(run);
        if (!run.live || (run.steps || []).every(s => FINAL.has(s.state))) {
          break;
        }
      } catch (err) {
        this.showError(err);
        break;
      }
      await new Promise(r => setTimeout(r, 500));
    }
    await finish();
  }

  private async loadRuns(): Promise<void> {
    const list = this.node.querySelector('.jp-mlpipe-runs')!;
    const path = this.path;
    if (!path) {
      list.replaceChildren();
      return;
    }
    try {
      const { runs } = await api.listRuns(path);
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
    } catch (err) {
      this.showError(err);
    }
  }

  private showError(err: unknown): void {
    const box = this.node.querySelector('.jp-mlpipe-error') as HTMLElement;
    box.hidden = !err;
    box.textContent = err ? String((err as Error).message || err) : '';
  }

  private notebook: NotebookPanel | null = null;
  private graph: api.IGraph | null = null;
  private states: Record<string, string> = {};
  private outcome: Record<string, api.IStepProgress> = {};
  private selected: string | null = null;
  private liveRun: string | null = null;
}
