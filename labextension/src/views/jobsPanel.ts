/** The panel's sweep and schedules sections: a sweep's points as a table sortable by a metric, the notebook's schedules. */
import { scheduleRow } from '../model/schedules';
import { endedPoints, sortPoints, sweepMetrics, sweepStatusText } from '../model/sweeps';
import { ISchedule, ISweep } from '../tokens';

/** Which metric the sweep table is sorted by, and which way. */
export interface ISweepSort {
  metric: string | null;
  descending: boolean;
}

function cell(
  row: HTMLTableRowElement,
  text: string,
  attrs: Record<string, string> = {}
): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  Object.entries(attrs).forEach(([k, v]) => td.setAttribute(k, v));
  return td;
}

const STATE_MARK: Record<string, string> = { succeeded: '✓', failed: '✗', cancelled: '■' };

function show(v: unknown): string {
  return v == null ? '–' : typeof v === 'number' ? String(Number(v.toPrecision(4))) : String(v);
}

/** The sweep's line, and once it ended its points (swept parameters, state, metrics); a metric's header sorts by it. */
export function drawSweep(
  box: HTMLElement,
  sweep: ISweep | null,
  total: number,
  sort: ISweepSort,
  onSort: (metric: string) => void
): void {
  box.hidden = !sweep;
  box.replaceChildren();
  if (!sweep) {
    return;
  }
  box.dataset.state = sweep.state;
  const line = document.createElement('div');
  line.className = 'jp-mlpipe-sweep-status';
  // the id as the CLI prints it and each point run's trigger carries it: selectable, to copy
  const [before, ...after] = sweepStatusText(sweep, total).split(sweep.sweep_id);
  const id = document.createElement('code');
  id.className = 'jp-mlpipe-sweep-id';
  id.textContent = sweep.sweep_id;
  id.title =
    `Sweep id: each point run's trigger is "sweep ${sweep.sweep_id} point i/n" ` +
    '(runs table, `mlpipe runs`); GET /mlpipe/api/sweeps/' +
    sweep.sweep_id;
  line.append(before, ...(after.length ? [id, after.join(sweep.sweep_id)] : []));
  box.appendChild(line);
  const points = endedPoints(sweep);
  if (!points?.length) {
    return;
  }
  const swept = sweep.swept?.length ? sweep.swept : Object.keys(points[0].params);
  const metrics = sweepMetrics(points);
  const table = document.createElement('table');
  table.className = 'jp-mlpipe-table jp-mlpipe-sweep-points';
  const head = table.createTHead().insertRow();
  for (const name of swept) {
    head.appendChild(document.createElement('th')).textContent = name;
  }
  const state = head.appendChild(document.createElement('th'));
  state.title = 'state (✓ succeeded, ✗ failed, ■ cancelled)';
  state.setAttribute('aria-label', 'state');
  for (const m of metrics) {
    const th = head.appendChild(document.createElement('th'));
    th.dataset.metric = m;
    th.title = `Sort by ${m}`;
    const arrow = sort.metric === m ? (sort.descending ? ' ▼' : ' ▲') : '';
    th.textContent = m + arrow;
    if (arrow) {
      th.dataset.sort = sort.descending ? 'descending' : 'ascending';
    }
    th.addEventListener('click', () => onSort(m));
  }
  const body = table.createTBody();
  for (const p of sortPoints(points, sort.metric, sort.descending)) {
    const row = body.insertRow();
    row.dataset.status = p.state;
    row.dataset.runId = p.run_id ?? '';
    row.title = p.error ? `${p.run_id ?? ''} ${p.error}` : (p.run_id ?? '');
    swept.forEach(name => cell(row, show(p.params[name])));
    // a mark, not the word: the metric columns stay in view at the narrowest sidebar
    cell(row, STATE_MARK[p.state] ?? p.state, {
      class: 'jp-mlpipe-sweep-state',
      title: p.state,
      'aria-label': p.state
    });
    metrics.forEach(m => cell(row, show(p.metrics?.[m]), { 'data-metric': m }));
  }
  box.appendChild(table);
}

/** The notebook's schedules: kind, when, next time, last run (or a line saying there are none). */
export function drawSchedules(box: HTMLElement, schedules: ISchedule[] | null): void {
  const count = box.querySelector('.jp-mlpipe-schedules-count') as HTMLElement;
  const list = box.querySelector('.jp-mlpipe-schedules-body') as HTMLElement;
  count.textContent = schedules ? `(${schedules.length})` : '';
  list.replaceChildren();
  if (!schedules) {
    return;
  }
  if (!schedules.length) {
    list.textContent = 'No schedules for this notebook (mlpipe schedule add NOTEBOOK --every 1h).';
    return;
  }
  const table = document.createElement('table');
  table.className = 'jp-mlpipe-table';
  const head = table.createTHead().insertRow();
  for (const name of ['kind', 'when', 'next', 'last run']) {
    head.appendChild(document.createElement('th')).textContent = name;
  }
  const body = table.createTBody();
  for (const s of schedules.map(scheduleRow)) {
    const row = body.insertRow();
    row.dataset.scheduleId = s.id;
    row.dataset.kind = s.kind;
    row.dataset.status = s.lastState ?? 'never';
    [s.kind, s.when, s.next, s.last].forEach(text => cell(row, text));
  }
  list.appendChild(table);
}
