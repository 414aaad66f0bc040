/** Sweeps from the panel: a field's comma-separated values, the grid to start, a sweep's progress and its points sorted by a metric. */
import { FieldError, IParameterField, parseField } from './parameters';
import { ISweep, ISweepPoint } from '../tokens';

/** What POST sweeps gets: the swept values per parameter, and single values that differ from the defaults. */
export interface ISweepRequest {
  sweep: Record<string, unknown[]>;
  params: Record<string, unknown>;
}

/** The values of a sweep field's text: comma-separated, each typed as the field (true/false for bool). */
export function parseValues(field: IParameterField, text: string): unknown[] {
  const parts = text.split(',').map(p => p.trim());
  if (field.kind !== 'str' && parts.some(p => p === '')) {
    throw new FieldError(
      field.name,
      `${field.name}: an empty value in '${text}' (separate values with commas: 1, 2, 3)`
    );
  }
  return parts.map(p => {
    if (field.kind !== 'bool') {
      return parseField(field, p);
    }
    if (!/^(true|false)$/i.test(p)) {
      throw new FieldError(field.name, `${field.name} must be true or false, not '${p}'`);
    }
    return p.toLowerCase() === 'true';
  });
}

/** The sweep a form's texts ask for; throws when no field has several values. */
export function sweepRequest(
  fields: readonly IParameterField[],
  read: (name: string) => string
): ISweepRequest {
  const out: ISweepRequest = { sweep: {}, params: {} };
  for (const f of fields) {
    const values = parseValues(f, read(f.name));
    if (values.length > 1) {
      out.sweep[f.name] = values;
    } else if (values[0] !== f.value) {
      out.params[f.name] = values[0];
    }
  }
  if (!Object.keys(out.sweep).length) {
    throw new Error(
      'Sweep: give at least one parameter several comma-separated values, e.g. 1, 2, 3'
    );
  }
  return out;
}

/** How many points a grid has (every combination of the swept values). */
export function pointCount(sweep: Record<string, unknown[]>): number {
  return Object.values(sweep).reduce((n, values) => n * values.length, 1);
}

/** The ended sweep's points, or null while it runs. */
export function endedPoints(sweep: ISweep | null): ISweepPoint[] | null {
  return sweep && Array.isArray(sweep.points) ? sweep.points : null;
}

/** Every metric some point logged, sorted by name. */
export function sweepMetrics(points: readonly ISweepPoint[]): string[] {
  return [...new Set(points.flatMap(p => Object.keys(p.metrics || {})))].sort();
}

/** Points by `metric` (ascending, or descending); points without it keep grid order at the end. */
export function sortPoints(
  points: readonly ISweepPoint[],
  metric: string | null,
  descending = false
): ISweepPoint[] {
  if (!metric) {
    return [...points];
  }
  const has = points.filter(p => typeof p.metrics?.[metric] === 'number');
  has.sort((a, b) => (descending ? -1 : 1) * (a.metrics[metric] - b.metrics[metric]));
  return [...has, ...points.filter(p => typeof p.metrics?.[metric] !== 'number')];
}

/** One line on where a sweep stands: "Sweep ab12: 2/6 points done", "... succeeded: 6 points". */
export function sweepStatusText(sweep: ISweep, total: number): string {
  const points = endedPoints(sweep);
  if (!points) {
    return `Sweep ${sweep.sweep_id}: ${Object.keys(sweep.points || {}).length}/${total} points done`;
  }
  const failed = points.filter(p => p.state !== 'succeeded').length;
  return (
    `Sweep ${sweep.sweep_id} ${sweep.state}: ${points.length} points` +
    (failed ? `, ${failed} not succeeded` : '') +
    (sweep.error ? ` (${sweep.error})` : '')
  );
}
