/** Lay out the DAG with dagre (siblings in cell order) and draw it as plain SVG (no Graphviz in the browser). */
import * as dagre from '@dagrejs/dagre';

import { svgEl as el } from './charts';
import { IGraph, IStep, StepStatus } from '../tokens';
import { statusIcon } from './pipeline/status';

export interface INodeBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Node boxes (top-left corners) of `steps` laid out top to bottom; nodes of a rank in cell order. */
export function layout(
  steps: readonly IStep[],
  edges: IGraph['edges']
): {
  nodes: Map<string, INodeBox>;
  width: number;
  height: number;
} {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 16, ranksep: 28, marginx: 6, marginy: 6 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of steps) {
    g.setNode(s.name, { width: Math.max(72, 7.5 * s.name.length + 42), height: 34 }); // + the status icon
  }
  for (const e of edges) {
    g.setEdge(e.source, e.target);
  }
  dagre.layout(g);
  // dagre orders a rank by its own heuristic; keep its slots but fill them in cell order
  const cell = new Map(steps.map(s => [s.name, s.cell]));
  const ranks = new Map<number, string[]>();
  for (const name of g.nodes()) {
    const y = Math.round(g.node(name).y);
    ranks.set(y, [...(ranks.get(y) || []), name]);
  }
  const nodes = new Map<string, INodeBox>();
  for (const names of ranks.values()) {
    const slots = names.map(n => g.node(n)).sort((a, b) => a.x - b.x);
    const widths = slots.map(n => n.width);
    const left = slots[0].x - slots[0].width / 2;
    const right = slots[slots.length - 1].x + slots[slots.length - 1].width / 2;
    const ordered = [...names].sort((a, b) => (cell.get(a) ?? 0) - (cell.get(b) ?? 0));
    const total = ordered.reduce((sum, n) => sum + g.node(n).width, 0);
    const gap =
      ordered.length > 1 ? Math.max(16, (right - left - total) / (ordered.length - 1)) : 0;
    let x = ordered.length > 1 ? left : slots[0].x - widths[0] / 2;
    for (const n of ordered) {
      const box = g.node(n);
      nodes.set(n, { x, y: box.y - box.height / 2, width: box.width, height: box.height });
      x += box.width + gap;
    }
  }
  const size = g.graph();
  const width = Math.max(size.width ?? 100, ...[...nodes.values()].map(b => b.x + b.width + 6));
  return { nodes, width, height: size.height ?? 40 };
}

/** Draw `graph` with each node's `data-status` taken from `states`; returns the <svg>. */
export function drawGraph(
  graph: IGraph,
  states: Readonly<Record<string, StepStatus>>,
  selected: string | null,
  onClick: (step: string) => void
): SVGSVGElement {
  const { nodes, width, height } = layout(graph.steps, graph.edges);
  const svg = el('svg', {
    class: 'jp-mlpipe-svg',
    viewBox: `0 0 ${width} ${height}`,
    'data-width': width,
    'data-height': height,
    preserveAspectRatio: 'xMidYMin meet'
  });
  const defs = el('defs', {});
  const marker = el('marker', {
    id: 'jp-mlpipe-arrow',
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse'
  });
  marker.appendChild(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'jp-mlpipe-arrowhead' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const e of graph.edges) {
    const [a, b] = [nodes.get(e.source), nodes.get(e.target)];
    if (!a || !b) {
      continue;
    }
    const [x1, y1, x2, y2] = [a.x + a.width / 2, a.y + a.height, b.x + b.width / 2, b.y];
    const mid = (y1 + y2) / 2;
    svg.appendChild(
      el('path', {
        class: 'jp-mlpipe-edge',
        d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`,
        'data-source': e.source,
        'data-target': e.target,
        'marker-end': 'url(#jp-mlpipe-arrow)'
      })
    );
  }
  for (const s of graph.steps) {
    const n = nodes.get(s.name)!;
    const status = states[s.name] || s.status;
    const group = el('g', {
      class: 'jp-mlpipe-node' + (s.name === selected ? ' jp-mod-selected' : ''),
      transform: `translate(${n.x},${n.y})`,
      'data-step': s.name,
      'data-status': status,
      'data-cell': s.cell,
      'data-certain': String(s.certain ?? true),
      'data-verify': s.verify?.verdict ?? '',
      tabindex: 0,
      role: 'button'
    });
    group.appendChild(
      el(
        'title',
        {},
        `${s.name}: ${status === 'stale' && s.verdict ? s.verdict : status}` +
          (s.reasons.length ? ` (${s.reasons.join('; ')})` : '') +
          (s.verify && s.verify.verdict !== 'same'
            ? ` [mlpipe verify: ${s.verify.verdict} ${s.verify.differing.join(', ')}]`
            : '')
      )
    );
    group.appendChild(el('rect', { width: n.width, height: n.height, rx: 7, ry: 7 }));
    group.appendChild(
      el('text', { x: n.width / 2 + 7, y: n.height / 2, 'dominant-baseline': 'central' }, s.name)
    );
    group.appendChild(
      el(
        'text',
        {
          x: 12,
          y: n.height / 2,
          'dominant-baseline': 'central',
          class: 'jp-mlpipe-node-icon',
          'aria-hidden': 'true'
        },
        statusIcon(status)
      )
    );
    group.addEventListener('click', () => onClick(s.name));
    group.addEventListener('keydown', ev => {
      if ((ev as KeyboardEvent).key === 'Enter') {
        onClick(s.name);
      }
    });
    svg.appendChild(group);
  }
  return svg;
}

/** Recolour nodes in place while a run goes on (no re-layout, no flicker). */
export function setStates(svg: Element, states: Readonly<Record<string, StepStatus>>): void {
  for (const [step, state] of Object.entries(states)) {
    const node = svg.querySelector(`g.jp-mlpipe-node[data-step="${CSS.escape(step)}"]`);
    if (node) {
      node.setAttribute('data-status', state);
      const icon = node.querySelector('.jp-mlpipe-node-icon');
      if (icon) {
        icon.textContent = statusIcon(state);
      }
      const title = node.querySelector('title');
      if (title) {
        title.textContent = `${step}: ${state}`;
      }
    }
  }
}
