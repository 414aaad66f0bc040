/** Lay out the DAG with dagre and draw it as plain SVG (no Graphviz in the browser). */
import * as dagre from '@dagrejs/dagre';

import { IGraph, StepStatus } from './tokens';

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

/** Draw `graph` with each node's `data-status` taken from `states`; returns the <svg>. */
export function drawGraph(
  graph: IGraph,
  states: Readonly<Record<string, StepStatus>>,
  selected: string | null,
  onClick: (step: string) => void
): SVGSVGElement {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 16, ranksep: 28, marginx: 6, marginy: 6 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of graph.steps) {
    g.setNode(s.name, { width: Math.max(72, 7.5 * s.name.length + 28), height: 34 });
  }
  for (const e of graph.edges) {
    g.setEdge(e.source, e.target);
  }
  dagre.layout(g);
  const size = g.graph();
  const svg = el('svg', {
    class: 'jp-mlpipe-svg',
    width: size.width ?? 100,
    height: size.height ?? 40,
    viewBox: `0 0 ${size.width ?? 100} ${size.height ?? 40}`
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
  for (const e of g.edges()) {
    const pts = g.edge(e).points || [];
    const d = pts.map((p: { x: number; y: number }, i: number) => `${i ? 'L' : 'M'}${p.x},${p.y}`);
    svg.appendChild(
      el('path', {
        class: 'jp-mlpipe-edge',
        d: d.join(' '),
        'data-source': e.v,
        'data-target': e.w,
        'marker-end': 'url(#jp-mlpipe-arrow)'
      })
    );
  }
  for (const s of graph.steps) {
    const n = g.node(s.name);
    const status = states[s.name] || s.status;
    const group = el('g', {
      class: 'jp-mlpipe-node' + (s.name === selected ? ' jp-mod-selected' : ''),
      transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})`,
      'data-step': s.name,
      'data-status': status,
      'data-cell': s.cell,
      tabindex: 0,
      role: 'button'
    });
    const title = el('title', {});
    title.textContent = `${s.name}: ${status}` + (s.reasons.length ? ` (${s.reasons.join('; ')})` : '');
    group.appendChild(title);
    group.appendChild(el('rect', { width: n.width, height: n.height, rx: 7, ry: 7 }));
    const text = el('text', { x: n.width / 2, y: n.height / 2, 'dominant-baseline': 'central' });
    text.textContent = s.name;
    group.appendChild(text);
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
      const title = node.querySelector('title');
      if (title) {
        title.textContent = `${step}: ${state}`;
      }
    }
  }
}
