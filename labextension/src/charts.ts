/** Small plain-SVG pictures: a metric across runs as a line chart, a run's steps on a timeline. */
import { formatSeconds } from './progress';
import { IMetricPoint, IStepProgress } from './tokens';

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1976d2', '#d81b60', '#388e3c', '#f57c00', '#7b1fa2', '#00838f'];

export function svgEl<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** Metric names in first-seen order, each with its (run index, value) points. */
export function metricSeries(points: readonly IMetricPoint[]): Map<string, [number, number][]> {
  const series = new Map<string, [number, number][]>();
  points.forEach((p, i) => {
    for (const [name, value] of Object.entries(p.metrics)) {
      if (!series.has(name)) {
        series.set(name, []);
      }
      series.get(name)!.push([i, value]);
    }
  });
  return series;
}

/** One line chart per metric, x = run (oldest first), y = the run's last value. */
export function metricCharts(points: readonly IMetricPoint[]): HTMLElement {
  const box = document.createElement('div');
  box.className = 'jp-mlpipe-charts';
  const series = metricSeries(points);
  if (!series.size) {
    box.textContent = 'No metrics logged yet: call jupyter_mlpipe.log_metric(name, value) in a step.';
    return box;
  }
  let colour = 0;
  for (const [name, values] of series) {
    box.appendChild(lineChart(name, values, points, COLOURS[colour++ % COLOURS.length]));
  }
  return box;
}

function lineChart(
  name: string,
  values: [number, number][],
  points: readonly IMetricPoint[],
  colour: string
): SVGSVGElement {
  const [w, h, left, top, bottom] = [420, 160, 56, 22, 24];
  const ys = values.map(v => v[1]);
  let [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  if (lo === hi) {
    [lo, hi] = [lo - 1, hi + 1];
  }
  const n = Math.max(points.length - 1, 1);
  const x = (i: number) => left + ((w - left - 10) * i) / n;
  const y = (v: number) => top + ((h - top - bottom) * (hi - v)) / (hi - lo);
  const svg = svgEl('svg', { class: 'jp-mlpipe-chart', 'data-metric': name, width: w, height: h, viewBox: `0 0 ${w} ${h}` });
  svg.appendChild(svgEl('text', { x: left, y: 14, class: 'jp-mlpipe-chart-title' }, name));
  svg.appendChild(svgEl('line', { x1: left, y1: h - bottom, x2: w - 10, y2: h - bottom, class: 'jp-mlpipe-axis' }));
  svg.appendChild(svgEl('line', { x1: left, y1: top, x2: left, y2: h - bottom, class: 'jp-mlpipe-axis' }));
  for (const v of [lo, hi]) {
    svg.appendChild(svgEl('text', { x: left - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'jp-mlpipe-tick' }, fmt(v)));
  }
  svg.appendChild(svgEl('text', { x: w - 10, y: h - 6, 'text-anchor': 'end', class: 'jp-mlpipe-tick' }, 'runs, oldest → newest'));
  const d = values.map(([i, v], k) => `${k ? 'L' : 'M'}${x(i)},${y(v)}`).join(' ');
  svg.appendChild(svgEl('path', { d, class: 'jp-mlpipe-line', stroke: colour }));
  for (const [i, v] of values) {
    const dot = svgEl('circle', { cx: x(i), cy: y(v), r: 3.5, fill: colour, 'data-run-id': points[i].run_id, 'data-value': v });
    dot.appendChild(svgEl('title', {}, `${points[i].run_id}: ${name} = ${fmt(v)}`));
    svg.appendChild(dot);
  }
  return svg;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

/** Each step as a bar from when it started to when it finished; reused steps hatched. */
export function stepTimeline(steps: readonly IStepProgress[], runStarted: number): SVGSVGElement {
  const timed = steps.filter(s => s.started != null);
  const end = Math.max(runStarted + 0.001, ...timed.map(s => s.finished ?? s.started!));
  const [w, row, left] = [460, 20, 110];
  const h = row * timed.length + 26;
  const x = (t: number) => left + ((w - left - 10) * (t - runStarted)) / (end - runStarted);
  const svg = svgEl('svg', { class: 'jp-mlpipe-timeline', width: w, height: h, viewBox: `0 0 ${w} ${h}` });
  timed.forEach((s, i) => {
    const y = 4 + i * row;
    const g = svgEl('g', { 'data-step': s.name, 'data-status': s.state, 'data-reused': String(!!s.reused) });
    g.appendChild(svgEl('text', { x: left - 6, y: y + 12, 'text-anchor': 'end', class: 'jp-mlpipe-tick' }, s.name));
    const x0 = x(s.started!);
    const width = Math.max(2, x(s.finished ?? s.started!) - x0);
    g.appendChild(svgEl('rect', { x: x0, y, width, height: row - 6, rx: 2 }));
    g.appendChild(svgEl('title', {}, `${s.name}: ${s.reused ? 'reused' : s.state}, ${formatSeconds(s.duration ?? 0)}`));
    svg.appendChild(g);
  });
  svg.appendChild(svgEl('text', { x: w - 10, y: h - 4, 'text-anchor': 'end', class: 'jp-mlpipe-tick' }, `0 – ${formatSeconds(end - runStarted)}`));
  return svg;
}
