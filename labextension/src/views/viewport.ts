/** Fit-to-view, zoom and pan of the graph's <svg> through its viewBox; reveals a node when asked. */

export interface IViewBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Largest height the graph takes in the sidebar before it is scaled down to fit. */
export const MAX_HEIGHT = 420;

/** The viewBox `box` zoomed by `factor` (> 1: closer) around its centre. */
export function zoomed(box: IViewBox, factor: number): IViewBox {
  const w = box.w / factor;
  const h = box.h / factor;
  return { x: box.x + (box.w - w) / 2, y: box.y + (box.h - h) / 2, w, h };
}

/** `box` moved so that `node` is inside it (centred on it when it was not). */
export function revealed(box: IViewBox, node: IViewBox): IViewBox {
  const inside =
    node.x >= box.x &&
    node.y >= box.y &&
    node.x + node.w <= box.x + box.w &&
    node.y + node.h <= box.y + box.h;
  if (inside) {
    return box;
  }
  return { ...box, x: node.x + node.w / 2 - box.w / 2, y: node.y + node.h / 2 - box.h / 2 };
}

export class GraphViewport {
  /** `svg` carries its natural size in data-width/data-height; `container` is the box it fits. */
  constructor(container: HTMLElement, svg: SVGSVGElement) {
    this._container = container;
    this._svg = svg;
    this._size = { x: 0, y: 0, w: Number(svg.dataset.width), h: Number(svg.dataset.height) };
    this._box = { ...this._size };
    svg.addEventListener('wheel', ev => {
      if (ev.ctrlKey || ev.metaKey) {
        ev.preventDefault();
        this.zoom(ev.deltaY < 0 ? 1.2 : 1 / 1.2);
      }
    });
    svg.addEventListener('pointerdown', ev => this._startPan(ev));
    this._observer = new ResizeObserver(() => this._layout());
    this._observer.observe(container);
    this.fit();
  }

  get zoomLevel(): number {
    return this._size.w / this._box.w;
  }

  /** The whole graph, scaled down (never up) to the container's width. */
  fit(): void {
    this._box = { ...this._size };
    this._layout();
  }

  zoom(factor: number): void {
    this._box = zoomed(this._box, factor);
    this._apply();
  }

  /** Pan so the node of `step` is visible. */
  reveal(step: string): void {
    const node = this._svg.querySelector(`g[data-step="${CSS.escape(step)}"]`);
    const rect = node?.querySelector('rect');
    if (!node || !rect) {
      return;
    }
    const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(node.getAttribute('transform') || '');
    const box = {
      x: Number(m?.[1] ?? 0),
      y: Number(m?.[2] ?? 0),
      w: Number(rect.getAttribute('width')),
      h: Number(rect.getAttribute('height'))
    };
    const next = revealed(this._box, box);
    if (next !== this._box) {
      this._box = next;
      this._apply();
    }
  }

  dispose(): void {
    this._observer.disconnect();
  }

  /** The <svg> element's own size: the container's width, the graph's height at that scale. */
  private _layout(): void {
    const width = this._container.clientWidth || this._size.w;
    const scale = Math.min(1, width / this._size.w, MAX_HEIGHT / this._size.h);
    this._svg.setAttribute('width', String(Math.max(40, width)));
    this._svg.setAttribute('height', String(Math.ceil(this._size.h * scale)));
    this._apply();
  }

  private _apply(): void {
    const b = this._box;
    this._svg.setAttribute('viewBox', `${b.x} ${b.y} ${b.w} ${b.h}`);
    this._svg.dataset.zoom = this.zoomLevel.toFixed(2);
  }

  private _startPan(ev: PointerEvent): void {
    if (ev.button !== 0 || (ev.target as Element).closest('g.jp-mlpipe-node')) {
      return;
    }
    const start = { x: ev.clientX, y: ev.clientY, box: { ...this._box } };
    const perPixel = this._box.w / Math.max(1, this._svg.clientWidth);
    const move = (e: PointerEvent) => {
      this._box = {
        ...start.box,
        x: start.box.x - (e.clientX - start.x) * perPixel,
        y: start.box.y - (e.clientY - start.y) * perPixel
      };
      this._apply();
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  private readonly _container: HTMLElement;
  private readonly _svg: SVGSVGElement;
  private readonly _size: IViewBox;
  private _box: IViewBox;
  private readonly _observer: ResizeObserver;
}
