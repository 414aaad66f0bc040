/** The runs table as data: its columns (run, state, trigger, start, duration, each parameter and metric), sorting, filtering, and what differs between two runs. */
import { IRunRow, IRunTable } from './client';

export interface IColumn {
  id: string;
  label: string;
  kind: 'run' | 'state' | 'trigger' | 'started' | 'duration' | 'param' | 'metric';
  value(row: IRunRow): unknown;
}

export function tableColumns(table: IRunTable): IColumn[] {
  return [
    { id: 'run', label: 'run', kind: 'run', value: r => r.run_id },
    { id: 'state', label: 'state', kind: 'state', value: r => r.state },
    { id: 'trigger', label: 'trigger', kind: 'trigger', value: r => r.trigger },
    { id: 'started', label: 'started', kind: 'started', value: r => r.started },
    { id: 'duration', label: 'duration', kind: 'duration', value: r => r.duration },
    ...table.params.map((p): IColumn => ({
      id: `param:${p}`,
      label: p,
      kind: 'param',
      value: r => r.logged_params[p] ?? r.params[p]
    })),
    ...table.metrics.map((m): IColumn => ({
      id: `metric:${m}`,
      label: m,
      kind: 'metric',
      value: r => r.metrics[m]
    }))
  ];
}

function compareValues(a: unknown, b: unknown): number {
  if (a == null || b == null) {
    return a == null ? (b == null ? 0 : 1) : -1; // empty cells last
  }
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** Rows sorted by `column` (empty cells last either way); ties keep their order. */
export function sortRows(
  rows: readonly IRunRow[],
  column: IColumn,
  descending: boolean
): IRunRow[] {
  return rows
    .map((row, i) => ({ row, i }))
    .sort((x, y) => {
      const [a, b] = [column.value(x.row), column.value(y.row)];
      if (a == null || b == null) {
        return compareValues(a, b) || x.i - y.i;
      }
      return (descending ? -1 : 1) * compareValues(a, b) || x.i - y.i;
    })
    .map(x => x.row);
}

const CONDITION = /^\s*([^<>=!]+?)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$/;

/** Rows matching every comma-separated term: `lr>0.01`, `state=failed`, or text found in any cell. */
export function filterRows(
  rows: readonly IRunRow[],
  columns: readonly IColumn[],
  query: string
): IRunRow[] {
  const terms = query
    .split(',')
    .map(t => t.trim())
    .filter(Boolean);
  const byLabel = new Map(columns.map(c => [c.label.toLowerCase(), c]));
  const tests = terms.map(term => {
    const m = CONDITION.exec(term);
    const column = m ? byLabel.get(m[1].toLowerCase()) : undefined;
    if (!m || !column) {
      const needle = term.toLowerCase();
      return (row: IRunRow) =>
        columns.some(c =>
          String(c.value(row) ?? '')
            .toLowerCase()
            .includes(needle)
        );
    }
    const [, , op, text] = m;
    const num = Number(text);
    return (row: IRunRow) => {
      const v = column.value(row);
      if (v == null) {
        return op === '!=';
      }
      const c =
        typeof v === 'number' && !Number.isNaN(num) ? v - num : compareValues(String(v), text);
      return { '=': c === 0, '!=': c !== 0, '<': c < 0, '>': c > 0, '<=': c <= 0, '>=': c >= 0 }[
        op
      ]!;
    };
  });
  return rows.filter(row => tests.every(t => t(row)));
}

/** Ids of the parameter and metric columns whose values differ between runs `a` and `b`. */
export function differingColumns(a: IRunRow, b: IRunRow, columns: readonly IColumn[]): Set<string> {
  return new Set(
    columns
      .filter(c => c.kind === 'param' || c.kind === 'metric')
      .filter(c => JSON.stringify(c.value(a) ?? null) !== JSON.stringify(c.value(b) ?? null))
      .map(c => c.id)
  );
}
