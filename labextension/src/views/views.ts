/** Main-area views: an executed notebook (read-only), one past run, two runs compared, metrics across runs. */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { NotebookModel, NotebookPanel, StaticNotebook } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { metricCharts, stepTimeline } from './charts';
import { formatSeconds } from '../model/progress';
import { formatValue } from './pipeline/format';
import { IPipelineClient, IRunComparison, IRunRecord } from '../tokens';

export interface IViewServices {
  app: JupyterFrontEnd;
  client: IPipelineClient;
  rendermime: IRenderMimeRegistry;
  editorServices: IEditorServices;
  contentFactory: NotebookPanel.IContentFactory;
}

function html(tag: string, attrs: Record<string, string> = {}, text?: string): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, v);
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function table(head: string[], rows: (string | HTMLElement)[][], cls: string): HTMLTableElement {
  const t = html('table', { class: `jp-mlpipe-table ${cls}` }) as HTMLTableElement;
  const tr = t.createTHead().insertRow();
  head.forEach(h => tr.appendChild(html('th', {}, h)));
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    row.forEach(c => r.insertCell().append(c));
  }
  return t;
}

function show(v: unknown): string {
  return formatValue(v); // 0.9123, 1,234,567: numbers for people
}

/** Tags of the cells a step notebook adds around the step's own cell (executors/notebooks.py). */
const INTERNAL_TAGS = ['mlpipe-inputs', 'mlpipe-outputs', 'mlpipe-internal'];
const BODY_TAG = 'mlpipe-step-body';

/** An executed step notebook without the load/save cells jupyter_mlpipe added: what the user wrote, with its outputs. */
export function withoutInternalCells(json: any): any {
  const cells = (json.cells || []).filter(
    (c: any) =>
      !INTERNAL_TAGS.some(t => c.metadata?.tags?.includes(t)) ||
      (c.outputs || []).some((o: any) => o.output_type === 'error')
  );
  return { ...json, cells };
}

export class Views {
  constructor(services: IViewServices) {
    this._s = services;
  }

  /** Open a step's executed notebook from `runId` as a read-only notebook tab. */
  async openExecuted(path: string, runId: string, step: string): Promise<Widget> {
    const id = `jp-mlpipe-executed-${runId}-${step}`;
    const existing = this._find(id);
    if (existing) {
      return existing;
    }
    const json = withoutInternalCells(await this._s.client.getStepNotebook(path, runId, step));
    const model = new NotebookModel();
    model.fromJSON(json);
    const content = new StaticNotebook({
      rendermime: this._s.rendermime,
      contentFactory: this._s.contentFactory,
      mimeTypeService: this._s.editorServices.mimeTypeService,
      notebookConfig: { ...StaticNotebook.defaultNotebookConfig, windowingMode: 'none' }
    });
    content.model = model;
    content.widgets.forEach(cell => (cell.readOnly = true));
    content.addClass('jp-mlpipe-executed-notebook');
    content.node.dataset.runId = runId;
    content.node.dataset.step = step;
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.title.label = `${step}.ipynb (run ${runId}, read-only)`;
    widget.title.closable = true;
    this._s.app.shell.add(widget, 'main');
    const body = json.cells.findIndex((c: any) => c.metadata?.tags?.includes(BODY_TAG));
    if (body >= 0) {
      void widget.revealed.then(() => {
        const cell = content.widgets[body]; // the step's own cell, in view
        cell?.addClass('jp-mlpipe-step-cell');
        cell?.node.scrollIntoView({ block: 'start' });
      });
    }
    return widget;
  }

  /** A past run: per-step state, duration, reused or executed, executed notebooks, parameters, metrics, timeline. */
  async openRun(path: string, runId: string): Promise<Widget> {
    const run = await this._s.client.getRunRecord(path, runId);
    const node = html('div', {
      class: 'jp-mlpipe-view jp-mlpipe-run-view',
      'data-run-id': runId,
      'data-state': run.state
    });
    node.appendChild(html('h2', {}, `Run ${run.run_id}: ${run.state}`));
    node.appendChild(
      html(
        'p',
        {},
        `${new Date(run.started * 1000).toLocaleString()} · ${formatSeconds(run.duration)}` +
          (run.error ? ` · ${run.error}` : '')
      )
    );
    node.appendChild(html('h3', {}, 'Steps'));
    node.appendChild(
      table(
        ['step', 'state', 'duration', 'reused / executed', 'executed notebook'],
        run.steps.map(s => {
          const cell = html('span');
          if (s.has_notebook) {
            const link = html(
              'a',
              { href: '#', 'data-step': s.name, class: 'jp-mlpipe-link' },
              'open'
            );
            link.addEventListener('click', ev => {
              ev.preventDefault();
              void this.openExecuted(path, runId, s.name);
            });
            cell.appendChild(link);
          }
          return [
            s.name,
            (s.attempts ?? 1) > 1 ? `${s.state} (${s.attempts} attempts)` : s.state,
            formatSeconds(s.duration),
            s.reused ? 'reused' : s.started ? 'executed' : '–',
            cell
          ];
        }),
        'jp-mlpipe-run-steps'
      )
    );
    node.appendChild(html('h3', {}, 'Timeline'));
    node.appendChild(stepTimeline(run.steps, run.started));
    this._paramsAndMetrics(node, run);
    return this._add(node, `jp-mlpipe-run-${runId}`, `Run ${runId}`);
  }

  /** Two runs side by side: parameters, metrics, and which steps changed. */
  async openCompare(path: string, a: string, b: string): Promise<Widget> {
    const diff: IRunComparison = await this._s.client.compareRuns(path, a, b);
    const node = html('div', { class: 'jp-mlpipe-view jp-mlpipe-compare-view' });
    node.appendChild(html('h2', {}, `Compare ${a} ↔ ${b}`));
    const params = { ...diff.a.params, ...diff.a.logged_params };
    const paramsB = { ...diff.b.params, ...diff.b.logged_params };
    const names = [...new Set([...Object.keys(params), ...Object.keys(paramsB)])].sort();
    node.appendChild(html('h3', {}, 'Parameters'));
    node.appendChild(
      table(
        ['parameter', a, b],
        names.map(n => [n, show(params[n]), show(paramsB[n])]),
        'jp-mlpipe-compare-params'
      )
    );
    const metrics = [
      ...new Set([...Object.keys(diff.a.metrics), ...Object.keys(diff.b.metrics)])
    ].sort();
    node.appendChild(html('h3', {}, 'Metrics'));
    node.appendChild(
      table(
        ['metric', a, b],
        metrics.map(m => [m, show(diff.a.metrics[m]?.value), show(diff.b.metrics[m]?.value)]),
        'jp-mlpipe-compare-metrics'
      )
    );
    node
      .querySelectorAll('.jp-mlpipe-compare-params tbody tr, .jp-mlpipe-compare-metrics tbody tr')
      .forEach(tr => {
        const cells = tr.querySelectorAll('td');
        (tr as HTMLElement).dataset.differs = String(
          cells[1]?.textContent !== cells[2]?.textContent
        );
      });
    node.appendChild(html('h3', {}, 'Steps'));
    const steps = table(
      ['step', 'result'],
      Object.entries(diff.steps).map(([n, how]) => [n, how]),
      'jp-mlpipe-compare-steps'
    );
    steps
      .querySelectorAll('tbody tr')
      .forEach(tr => ((tr as HTMLElement).dataset.change = tr.lastChild!.textContent!));
    node.appendChild(steps);
    return this._add(
      node,
      `jp-mlpipe-compare-${a}-${b}`,
      `Compare ${a.slice(-6)} ↔ ${b.slice(-6)}`
    );
  }

  /** Each logged metric as a line across the notebook's runs. */
  async openMetrics(path: string): Promise<Widget> {
    const { runs } = await this._s.client.metricsAcrossRuns(path);
    const node = html('div', { class: 'jp-mlpipe-view jp-mlpipe-metrics-view' });
    node.appendChild(html('h2', {}, `Metrics across runs: ${path}`));
    node.appendChild(metricCharts(runs, runId => void this.openRun(path, runId)));
    const id = 'jp-mlpipe-metrics';
    this._find(id)?.dispose();
    return this._add(node, id, 'Pipeline metrics');
  }

  /** Parameters and metrics tables; an empty one is left out, with a line saying so. */
  private _paramsAndMetrics(node: HTMLElement, run: IRunRecord): void {
    const params = Object.entries({ ...run.params, ...run.logged_params });
    node.appendChild(html('h3', {}, 'Parameters'));
    node.appendChild(
      params.length
        ? table(
            ['parameter', 'value'],
            params.map(([k, v]) => [k, show(v)]),
            'jp-mlpipe-run-params'
          )
        : html('p', { class: 'jp-mlpipe-muted' }, 'No parameters cell.')
    );
    const metrics = Object.entries(run.metrics);
    node.appendChild(html('h3', {}, 'Metrics'));
    node.appendChild(
      metrics.length
        ? table(
            ['metric', 'value', 'step'],
            metrics.map(([k, m]) => [k, show(m.value), m.step + (m.reused ? ' (reused)' : '')]),
            'jp-mlpipe-run-metrics'
          )
        : html(
            'p',
            { class: 'jp-mlpipe-muted' },
            'No metrics logged: call jupyter_mlpipe.log_metric(name, value) in a step.'
          )
    );
  }

  private _find(id: string): Widget | undefined {
    for (const w of this._s.app.shell.widgets('main')) {
      if (w.id === id) {
        this._s.app.shell.activateById(id);
        return w;
      }
    }
    return undefined;
  }

  private _add(node: HTMLElement, id: string, label: string): Widget {
    this._find(id)?.dispose();
    const content = new Widget({ node });
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.title.label = label;
    widget.title.closable = true;
    this._s.app.shell.add(widget, 'main');
    return widget;
  }

  private readonly _s: IViewServices;
}
