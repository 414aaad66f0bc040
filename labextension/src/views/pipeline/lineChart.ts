/** A line chart that reads: a title, labelled axes with rounded ticks (niceScale), points with tooltips that can open their run. */
import { formatNumber } from './format';
import { niceScale } from './scale';
import { svgEl } from '../charts';

export interface IChartPoint {
  x: number;
  y: number;
  /** The run the point belongs to: clicking it opens that run. */
  runId?: string;
  /** Tooltip text. */
  label?: string;
}

export interface IChartSeries {
  name: string;
  points: IChartPoint[];
}

export interface IChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: IChartSeries[];
  /** Tick labels for x (e.g. run numbers); numbers otherwise. */
  xTick?: (x: number) => string;
  /** Points only, no line (metric against a parameter). */
  scatter?: boolean;
  onPoint?: (runId: string) => void;
  width?: number;
  height?: number;
}

const COLOURS = ['#1565c0', '#c2185b', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f'];

export function lineChart(o: IChartOptions): SVGSVGElement {
  const [w, h] = [o.width ?? 460, o.height ?? 220];
  const [left, right, top, bottom] = [64, 14, 26, 42];
  const all = o.series.flatMap(s => s.points);
  const ys = niceScale(all.map(p => p.y));
  const xs = all.length
    ? niceScale(
        all.map(p => p.x),
        Math.min(6, Math.max(1, new Set(all.map(p => p.x)).size - 1))
      )
    : niceScale([0, 1]);
  const x = (v: number) => left + ((w - left - right) * (v - xs.lo)) / (xs.hi - xs.lo || 1);
  const y = (v: number) => top + ((h - top - bottom) * (ys.hi - v)) / (ys.hi - ys.lo || 1);
  const svg = svgEl('svg', {
    class: 'jp-mlpipe-chart',
    'data-metric': o.title,
    width: w,
    height: h,
    viewBox: `0 0 ${w} ${h}`,
    role: 'img'
  });
  svg.appendChild(svgEl('title', {}, `${o.title}: ${o.yLabel} against ${o.xLabel}`));
  svg.appendChild(svgEl('text', { x: left, y: 15, class: 'jp-mlpipe-chart-title' }, o.title));
  for (const t of ys.ticks) {
    svg.appendChild(
      svgEl('line', { x1: left, x2: w - right, y1: y(t), y2: y(t), class: 'jp-mlpipe-grid' })
    );
    svg.appendChild(
      svgEl(
        'text',
        {
          x: left - 5,
          y: y(t) + 4,
          'text-anchor': 'end',
          class: 'jp-mlpipe-tick',
          'data-axis': 'y'
        },
        formatNumber(t)
      )
    );
  }
  for (const t of xs.ticks) {
    if (o.xTick && !Number.isInteger(t)) {
      continue;
    }
    svg.appendChild(
      svgEl(
        'text',
        {
          x: x(t),
          y: h - bottom + 14,
          'text-anchor': 'middle',
          class: 'jp-mlpipe-tick',
          'data-axis': 'x'
        },
        o.xTick ? o.xTick(t) : formatNumber(t)
      )
    );
  }
  svg.appendChild(
    svgEl('line', {
      x1: left,
      y1: h - bottom,
      x2: w - right,
      y2: h - bottom,
      class: 'jp-mlpipe-axis'
    })
  );
  svg.appendChild(
    svgEl('line', { x1: left, y1: top, x2: left, y2: h - bottom, class: 'jp-mlpipe-axis' })
  );
  svg.appendChild(
    svgEl(
      'text',
      {
        x: (left + w - right) / 2,
        y: h - 6,
        'text-anchor': 'middle',
        class: 'jp-mlpipe-axis-label'
      },
      o.xLabel
    )
  );
  svg.appendChild(
    svgEl(
      'text',
      {
        x: 12,
        y: (top + h - bottom) / 2,
        'text-anchor': 'middle',
        class: 'jp-mlpipe-axis-label',
        transform: `rotate(-90 12 ${(top + h - bottom) / 2})`
      },
      o.yLabel
    )
  );
  o.series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (!o.scatter && pts.length > 1) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.x)},${y(p.y)}`).join(' ');
      svg.appendChild(
        svgEl('path', { d, class: 'jp-mlpipe-line', stroke: colour, 'data-series': s.name })
      );
    }
    for (const p of pts) {
      const dot = svgEl('circle', {
        cx: x(p.x),
        cy: y(p.y),
        r: 4,
        fill: colour,
        'data-value': p.y,
        'data-x': p.x,
        'data-series': s.name
      });
      if (p.runId) {
        dot.setAttribute('data-run-id', p.runId);
      }
      dot.appendChild(svgEl('title', {}, p.label ?? `${s.name}: ${formatNumber(p.y)}`));
      if (p.runId && o.onPoint) {
        dot.classList.add('jp-mlpipe-point-link');
        dot.addEventListener('click', () => o.onPoint!(p.runId!));
      }
      svg.appendChild(dot);
    }
  });
  if (o.series.length > 1) {
    o.series.forEach((s, k) => {
      svg.appendChild(
        svgEl(
          'text',
          {
            x: w - right,
            y: 15 + 12 * k,
            'text-anchor': 'end',
            class: 'jp-mlpipe-tick',
            fill: COLOURS[k % COLOURS.length]
          },
          s.name
        )
      );
    });
  }
  return svg;
}
