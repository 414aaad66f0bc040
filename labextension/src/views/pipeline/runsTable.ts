/** The runs table (main area): one row per run with its parameters and metrics as sortable, filterable columns, trigger, start, duration, state; tick two to compare (differences highlighted); re-run with a run's parameters; charts of a metric per run and against a parameter. */
import { Widget } from '@lumino/widgets';

import { IRunRow, IRunTable, IViewClient } from './client';
import { h } from './dom';
import { parameterFields, valueMismatch } from '../../model/parameters';
import { formatDuration, formatTime, formatValue } from './format';
import { lineChart } from './lineChart';
import { differingColumns, filterRows, IColumn, sortRows, tableColumns } from './tableModel';

export interface IRunsTableOptions {
  client: IViewClient;
  path: string;
  openRun(runId: string): void;
  compare(a: string, b: string): void;
  /** Start a run of the notebook with these parameter values: its id, or rejects with why not. */
  rerun(params: Record<string, unknown>): Promise<string | null>;
  /** The notebook's parameters now (a re-run sends only these names). */
  parameters(): Record<string, unknown> | undefined;
  /** Their Python types (int, float, bool, str, or another: an expression), to check values. */
  parameterTypes?(): Record<string, string> | undefined;
}

/** What a row's re-run said: an error (not started), or the run it started. */
interface IRowMessage {
  text: string;
  error: boolean;
}

export class RunsTableView extends Widget {
  constructor(o: IRunsTableOptions) {
    super();
    this._o = o;
    this.addClass('jp-mlpipe-view');
    this.addClass('jp-mlpipe-runs-table-view');
    this.title.label = `Runs: ${o.path.split('/').pop()}`;
    this.title.closable = true;
    this.node.innerHTML = `
      <h2>Runs of <span class="jp-mlpipe-path"></span></h2>
      <div class="jp-mlpipe-table-tools">
        <input class="jp-mlpipe-filter jp-mod-styled" type="search" placeholder="Filter: lr>0.01, state=failed, or any text" aria-label="Filter runs">
        <button class="jp-Button jp-mod-styled" data-action="compare" disabled title="Tick two runs to compare them">Compare</button>
        <button class="jp-Button jp-mod-styled" data-action="reload">Reload</button>
        <span class="jp-mlpipe-count jp-mlpipe-muted"></span>
      </div>
      <div class="jp-mlpipe-error" hidden></div>
      <div class="jp-mlpipe-table-scroll"></div>
      <div class="jp-mlpipe-table-charts"></div>`;
    (this.node.querySelector('.jp-mlpipe-path') as HTMLElement).textContent = o.path;
    this._filter = this.node.querySelector('.jp-mlpipe-filter') as HTMLInputElement;
    this._filter.addEventListener('input', () => this._draw());
    this._button('compare').addEventListener('click', () => {
      const [a, b] = this._picked;
      o.compare(a, b);
    });
    this._button('reload').addEventListener('click', () => void this.reload());
    void this.reload();
  }

  async reload(): Promise<void> {
    const error = this.node.querySelector('.jp-mlpipe-error') as HTMLElement;
    try {
      this._table = await this._o.client.runTable(this._o.path);
      this._columns = tableColumns(this._table);
      error.hidden = true;
    } catch (err) {
      error.hidden = false;
      error.textContent = String((err as Error).message || err);
    }
    this._draw();
  }

  private _button(action: string): HTMLButtonElement {
    return this.node.querySelector(`button[data-action="${action}"]`) as HTMLButtonElement;
  }

  private _draw(): void {
    const table = this._table;
    const scroll = this.node.querySelector('.jp-mlpipe-table-scroll') as HTMLElement;
    if (!table) {
      return;
    }
    if (!table.runs.length) {
      scroll.replaceChildren(
        h('p', { class: 'jp-mlpipe-muted' }, 'No runs yet: run the pipeline.')
      );
      return;
    }
    this._picked = this._picked.filter(id => table.runs.some(r => r.run_id === id));
    const columns = this._columns;
    let rows = filterRows(table.runs, columns, this._filter.value);
    const sortBy = columns.find(c => c.id === this._sort.column);
    if (sortBy) {
      rows = sortRows(rows, sortBy, this._sort.descending);
    }
    (this.node.querySelector('.jp-mlpipe-count') as HTMLElement).textContent =
      `${rows.length} of ${table.runs.length} runs`;
    const picked = this._picked.map(id => table.runs.find(r => r.run_id === id)!);
    const diff =
      picked.length === 2 ? differingColumns(picked[0], picked[1], columns) : new Set<string>();
    const t = h('table', { class: 'jp-mlpipe-table jp-mlpipe-runs-table' }) as HTMLTableElement;
    const head = t.createTHead();
    const groups = head.insertRow();
    groups.className = 'jp-mlpipe-column-groups';
    const count = (kind: IColumn['kind']) => columns.filter(c => c.kind === kind).length;
    groups.append(
      h('th', { colspan: '6' }),
      ...(count('param')
        ? [h('th', { colspan: String(count('param')), class: 'jp-mlpipe-group' }, 'parameters')]
        : []),
      ...(count('metric')
        ? [h('th', { colspan: String(count('metric')), class: 'jp-mlpipe-group' }, 'metrics')]
        : [])
    );
    const tr = head.insertRow();
    tr.append(h('th', { class: 'jp-mlpipe-pick-col' }, 'compare'));
    for (const c of columns) {
      const sorted = this._sort.column === c.id;
      const th = h(
        'th',
        {
          'data-column': c.id,
          'data-kind': c.kind,
          tabindex: '0',
          role: 'button',
          'aria-sort': sorted ? (this._sort.descending ? 'descending' : 'ascending') : 'none',
          title: `Sort by ${c.label}`
        },
        c.label,
        sorted ? (this._sort.descending ? ' ▼' : ' ▲') : ''
      );
      const sort = () => {
        this._sort = {
          column: c.id,
          descending: sorted ? !this._sort.descending : c.kind === 'metric' || c.kind === 'started'
        };
        this._draw();
      };
      th.addEventListener('click', sort);
      th.addEventListener(
        'keydown',
        ev => (ev.key === 'Enter' || ev.key === ' ') && (ev.preventDefault(), sort())
      );
      tr.appendChild(th);
    }
    tr.appendChild(h('th', {}, ''));
    const body = t.createTBody();
    for (const row of rows) {
      body.appendChild(this._row(row, columns, diff));
      const message = this._messages.get(row.run_id);
      if (message) {
        body.appendChild(this._messageRow(row.run_id, message, columns.length + 2));
      }
    }
    scroll.replaceChildren(t);
    this._button('compare').disabled = this._picked.length !== 2;
    this._drawCharts(table);
  }

  private _row(row: IRunRow, columns: IColumn[], diff: Set<string>): HTMLTableRowElement {
    const tr = h('tr', {
      'data-run-id': row.run_id,
      'data-state': row.state
    }) as HTMLTableRowElement;
    const picked = this._picked.includes(row.run_id);
    tr.classList.toggle('jp-mod-picked', picked);
    const box = h('input', {
      type: 'checkbox',
      'aria-label': `Pick run ${row.run_id} to compare`
    }) as HTMLInputElement;
    box.checked = picked;
    box.addEventListener('change', () => {
      this._picked = picked
        ? this._picked.filter(p => p !== row.run_id)
        : [...this._picked, row.run_id].slice(-2);
      this._draw();
    });
    tr.appendChild(h('td', { class: 'jp-mlpipe-pick-col' }, box));
    for (const c of columns) {
      const v = c.value(row);
      const td = h('td', { 'data-column': c.id });
      if (c.kind === 'run') {
        const a = h(
          'a',
          { href: '#', class: 'jp-mlpipe-link', 'data-action': 'open-run' },
          row.run_id
        );
        a.addEventListener('click', ev => {
          ev.preventDefault();
          this._o.openRun(row.run_id);
        });
        td.appendChild(a);
      } else {
        td.textContent =
          c.kind === 'started'
            ? formatTime(v as number)
            : c.kind === 'duration'
              ? formatDuration(v as number)
              : formatValue(v);
        if (typeof v === 'number' && c.kind !== 'started') {
          td.classList.add('jp-mlpipe-num');
        }
      }
      if (picked && diff.has(c.id)) {
        td.classList.add('jp-mlpipe-diff');
        td.title = 'differs between the two picked runs';
      }
      tr.appendChild(td);
    }
    const rerun = h(
      'button',
      {
        class: 'jp-Button jp-mod-styled',
        'data-action': 'rerun',
        title: "Run the pipeline again with this run's parameters"
      },
      'Re-run'
    ) as HTMLButtonElement;
    rerun.addEventListener('click', () => void this._rerun(row, rerun));
    tr.appendChild(h('td', {}, rerun));
    return tr;
  }

  /**
   * Re-run with `row`'s parameter values (those the notebook still has). A value that no longer
   * fits its parameter, or a refusal from the server, is said under the row; nothing starts.
   */
  private async _rerun(row: IRunRow, button: HTMLButtonElement): Promise<void> {
    const now = this._o.parameters() ?? {};
    const params = Object.fromEntries(Object.entries(row.params).filter(([k]) => k in now));
    const fields = parameterFields(now, this._o.parameterTypes?.() ?? {});
    const bad = fields
      .filter(f => f.name in params)
      .map(f => valueMismatch(f, params[f.name]))
      .filter((m): m is string => !!m);
    if (bad.length) {
      this._say(row.run_id, {
        text: `Not re-run: ${bad.join('; ')}. Edit the parameters cell, or run with other values from the panel's form.`,
        error: true
      });
      return;
    }
    button.disabled = true;
    try {
      const started = await this._o.rerun(params);
      const shown = Object.entries(params)
        .map(([k, v]) => `${k} = ${formatValue(v)}`)
        .join(', ');
      const gone = Object.keys(row.params).filter(k => !(k in now));
      this._say(row.run_id, {
        text:
          `Started ${started ? `run ${started}` : 'a new run'} with ${shown || "the parameters cell's values"}` +
          (gone.length ? ` (${gone.join(', ')}: no longer a parameter, left out)` : '') +
          '; it is listed in this table now (Reload to update its state).',
        error: false
      });
      void this.reload(); // the new run's row, running
    } catch (err) {
      this._say(row.run_id, {
        text: `Not re-run: ${String((err as Error)?.message ?? err)}`,
        error: true
      });
    } finally {
      button.disabled = false;
    }
  }

  private _say(runId: string, message: IRowMessage): void {
    this._messages.clear(); // one message at a time: the last re-run's
    this._messages.set(runId, message);
    this._draw();
  }

  /** A full-width row right under the run's row: what its re-run said. */
  private _messageRow(runId: string, message: IRowMessage, span: number): HTMLTableRowElement {
    const close = h(
      'button',
      { class: 'jp-mlpipe-message-close', title: 'Dismiss', 'aria-label': 'Dismiss' },
      '×'
    );
    close.addEventListener('click', () => {
      this._messages.delete(runId);
      this._draw();
    });
    return h(
      'tr',
      { class: 'jp-mlpipe-row-message', 'data-for-run': runId },
      h(
        'td',
        { colspan: String(span) },
        h(
          'div',
          {
            class: message.error ? 'jp-mlpipe-inline-error' : 'jp-mlpipe-ok',
            role: message.error ? 'alert' : 'status'
          },
          message.text
        ),
        close
      )
    ) as HTMLTableRowElement;
  }

  /** Each metric per run (oldest first), and against each numeric parameter that varies (a sweep). */
  private _drawCharts(table: IRunTable): void {
    const box = this.node.querySelector('.jp-mlpipe-table-charts') as HTMLElement;
    const runs = [...table.runs].reverse();
    const numeric = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
    const charts: Node[] = [];
    for (const m of table.metrics) {
      const points = runs
        .map((r, i) => ({ x: i + 1, y: r.metrics[m], runId: r.run_id }))
        .filter((p): p is { x: number; y: number; runId: string } => numeric(p.y))
        .map(p => ({ ...p, label: `run ${p.x} (${p.runId}): ${m} = ${formatValue(p.y)}` }));
      if (!points.length) {
        continue;
      }
      charts.push(
        lineChart({
          title: `${m} per run`,
          xLabel: 'run (oldest → newest)',
          yLabel: m,
          series: [{ name: m, points }],
          xTick: x => String(x),
          onPoint: id => this._o.openRun(id)
        })
      );
      for (const p of table.params) {
        const values = runs.map(r => r.logged_params[p] ?? r.params[p]);
        if (
          !values.every(v => v == null || numeric(v)) ||
          new Set(values.filter(numeric)).size < 2
        ) {
          continue;
        }
        const vs = runs
          .map(r => ({
            x: (r.logged_params[p] ?? r.params[p]) as number,
            y: r.metrics[m] as number,
            runId: r.run_id
          }))
          .filter(q => numeric(q.x) && numeric(q.y))
          .map(q => ({
            ...q,
            label: `${p} = ${formatValue(q.x)}: ${m} = ${formatValue(q.y)} (${q.runId})`
          }));
        charts.push(
          lineChart({
            title: `${m} against ${p}`,
            xLabel: p,
            yLabel: m,
            series: [{ name: m, points: vs }],
            scatter: true,
            onPoint: id => this._o.openRun(id)
          })
        );
      }
    }
    box.replaceChildren(
      ...(charts.length
        ? [h('h3', {}, 'Charts'), h('div', { class: 'jp-mlpipe-chart-grid' }, ...charts)]
        : [])
    );
  }

  private readonly _o: IRunsTableOptions;
  private readonly _filter: HTMLInputElement;
  private _table: IRunTable | null = null;
  private _columns: IColumn[] = [];
  private _picked: string[] = [];
  private readonly _messages = new Map<string, IRowMessage>();
  private _sort: { column: string | null; descending: boolean } = {
    column: null,
    descending: false
  };
}
