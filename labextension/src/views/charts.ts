/** Small plain-SVG pictures: a metric across runs as a line chart, a run's steps on a timeline. */
import { formatSeconds } from '../model/progress';
import { IMetricPoint, IStepProgress } from '../tokens';
import { formatNumber } from './pipeline/format';
import { lineChart } from './pipeline/lineChart';

const SVG = 'http://www.w3.org/2000/svg';

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

/** One line chart per metric, x = run (oldest first), y = the run's last value; a point opens its run. */
export function metricCharts(
  points: readonly IMetricPoint[],
  onPoint?: (runId: string) => void
): HTMLElement {
  const box = document.createElement('div');
  box.className = 'jp-mlpipe-charts';
  const series = metricSeries(points);
  if (!series.size) {
    box.textContent =
      'No metrics logged yet: call jupyter_mlpipe.log_metric(name, value) in a step.';
    return box;
  }
  for (const [name, values] of series) {
    box.appendChild(
      lineChart({
        title: name,
        xLabel: 'run (oldest → newest)',
        yLabel: name,
        xTick: x => String(x),
        series: [
          {
            name,
            points: values.map(([i, v]) => ({
              x: i + 1,
              y: v,
              runId: points[i].run_id,
              label: `run ${i + 1} (${points[i].run_id}): ${name} = ${formatNumber(v)}`
            }))
          }
        ],
        onPoint
      })
    );
  }
  return box;
}

/** Each step as a bar from when it started to when it finished; reused steps hatched. */
export function stepTimeline(steps: readonly IStepProgress[], runStarted: number): SVGSVGElement {
  const timed = steps.filter(s => s.started != null);
  const end = Math.max(runStarted + 0.001, ...timed.map(s => s.finished ?? s.started!));
  const [w, row, left] = [460, 20, 110];
  const h = row * timed.length + 26;
  const x = (t: number) => left + ((w - left - 10) * (t - runStarted)) / (end - runStarted);
  const svg = svgEl('svg', {
    class: 'jp-mlpipe-timeline',
    width: w,
    height: h,
    viewBox: `0 0 ${w} ${h}`
  });
  timed.forEach((s, i) => {
    const y = 4 + i * row;
    const g = svgEl('g', {
      'data-step': s.name,
      'data-status': s.state,
      'data-reused': String(!!s.reused)
    });
    g.appendChild(
      svgEl(
        'text',
        { x: left - 6, y: y + 12, 'text-anchor': 'end', class: 'jp-mlpipe-tick' },
        s.name
      )
    );
    const x0 = x(s.started!);
    const width = Math.max(2, x(s.finished ?? s.started!) - x0);
    g.appendChild(svgEl('rect', { x: x0, y, width, height: row - 6, rx: 2 }));
    g.appendChild(
      svgEl(
        'title',
        {},
        `${s.name}: ${s.reused ? 'reused' : s.state}, ${formatSeconds(s.duration ?? 0)}`
      )
    );
    svg.appendChild(g);
  });
  svg.appendChild(
    svgEl(
      'text',
      { x: w - 10, y: h - 4, 'text-anchor': 'end', class: 'jp-mlpipe-tick' },
      `0 – ${formatSeconds(end - runStarted)}`
    )
  );
  return svg;
}
