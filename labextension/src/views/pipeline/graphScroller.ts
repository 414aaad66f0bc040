/** The main view's graph at a legible size in a scrolling box: zoom (buttons, Ctrl+wheel), pan (drag, wheel, scrollbars), a minimap for big graphs, reveal a node. */

/** Below this zoom node labels get hard to read: opening a big graph scrolls instead of shrinking further. */
export const LEGIBLE_ZOOM = 0.9;
const MAX_ZOOM = 3;
const MINIMAP = { w: 180, h: 130 };

/** The zoom a graph opens at: fit the box, but never below LEGIBLE_ZOOM nor above 1.25. */
export function initialZoom(
  graph: { w: number; h: number },
  box: { w: number; h: number }
): number {
  const fit = Math.min(box.w / graph.w, box.h / graph.h);
  return Math.min(1.25, Math.max(LEGIBLE_ZOOM, fit));
}

export class GraphScroller {
  constructor(box: HTMLElement, svg: SVGSVGElement, minimap: HTMLElement) {
    this._box = box;
    this._svg = svg;
    this._size = { w: Number(svg.dataset.width), h: Number(svg.dataset.height) };
    svg.setAttribute('viewBox', `0 0 ${this._size.w} ${this._size.h}`);
    svg.removeAttribute('preserveAspectRatio');
    box.replaceChildren(svg);
    box.addEventListener('wheel', this._onWheel, { passive: false });
    svg.addEventListener('pointerdown', this._onPointerDown);
    box.addEventListener('scroll', () => this._drawMinimap());
    this._minimap = minimap;
    this._buildMinimap();
    this._zoom = initialZoom(this._size, this._boxSize());
    this._apply();
    this._observer = new ResizeObserver(() => this._drawMinimap());
    this._observer.observe(box);
  }

  get zoomLevel(): number {
    return this._zoom;
  }

  /** The whole graph in the box (an overview: labels may get small). */
  fit(): void {
    const b = this._boxSize();
    this.setZoom(Math.min(b.w / this._size.w, b.h / this._size.h, 1.25));
  }

  zoomBy(factor: number): void {
    this.setZoom(this._zoom * factor);
  }

  /** Zoom to `z`, keeping the point at (cx, cy) of the box (its centre by default) in place. */
  setZoom(z: number, cx?: number, cy?: number): void {
    const box = this._box;
    const [px, py] = [cx ?? box.clientWidth / 2, cy ?? box.clientHeight / 2];
    const gx = (box.scrollLeft + px) / this._zoom;
    const gy = (box.scrollTop + py) / this._zoom;
    this._zoom = Math.max(0.1, Math.min(MAX_ZOOM, z));
    this._apply();
    box.scrollLeft = gx * this._zoom - px;
    box.scrollTop = gy * this._zoom - py;
    this._drawMinimap();
  }

  /** Scroll so that the node of `step` is in view (centred when it was not). */
  reveal(step: string): void {
    const node = this._svg.querySelector<SVGGElement>(
      `g.jp-mlpipe-node[data-step="${CSS.escape(step)}"]`
    );
    if (!node) {
      return;
    }
    const r = node.getBoundingClientRect();
    const b = this._box.getBoundingClientRect();
    if (r.left >= b.left && r.right <= b.right && r.top >= b.top && r.bottom <= b.bottom) {
      return;
    }
    this._box.scrollLeft += r.left + r.width / 2 - (b.left + b.width / 2);
    this._box.scrollTop += r.top + r.height / 2 - (b.top + b.height / 2);
  }

  dispose(): void {
    this._observer.disconnect();
  }

  private _boxSize(): { w: number; h: number } {
    return {
      w: Math.max(200, this._box.clientWidth - 8),
      h: Math.max(150, this._box.clientHeight - 8)
    };
  }

  private _apply(): void {
    this._svg.setAttribute('width', String(Math.round(this._size.w * this._zoom)));
    this._svg.setAttribute('height', String(Math.round(this._size.h * this._zoom)));
    this._svg.dataset.zoom = this._zoom.toFixed(2);
  }

  private readonly _onWheel = (ev: WheelEvent): void => {
    if (ev.ctrlKey || ev.metaKey) {
      ev.preventDefault();
      const b = this._box.getBoundingClientRect();
      this.setZoom(
        this._zoom * (ev.deltaY < 0 ? 1.15 : 1 / 1.15),
        ev.clientX - b.left,
        ev.clientY - b.top
      );
    }
  };

  private readonly _onPointerDown = (ev: PointerEvent): void => {
    if (ev.button !== 0 || (ev.target as Element).closest('g.jp-mlpipe-node')) {
      return;
    }
    const start = {
      x: ev.clientX,
      y: ev.clientY,
      left: this._box.scrollLeft,
      top: this._box.scrollTop
    };
    this._box.classList.add('jp-mod-panning');
    const move = (e: PointerEvent) => {
      this._box.scrollLeft = start.left - (e.clientX - start.x);
      this._box.scrollTop = start.top - (e.clientY - start.y);
    };
    const up = () => {
      this._box.classList.remove('jp-mod-panning');
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };

  /** A small copy of the graph with the visible part framed; click or drag in it to go there. */
  private _buildMinimap(): void {
    const copy = this._svg.cloneNode(true) as SVGSVGElement;
    copy.removeAttribute('class');
    copy.setAttribute('class', 'jp-mlpipe-minimap-graph');
    copy.querySelectorAll('text, title').forEach(t => t.remove());
    copy
      .querySelectorAll('g.jp-mlpipe-node')
      .forEach(g => g.setAttribute('class', 'jp-mlpipe-mini-node'));
    copy.querySelectorAll('[id]').forEach(e => e.removeAttribute('id'));
    const scale = Math.min(MINIMAP.w / this._size.w, MINIMAP.h / this._size.h);
    copy.setAttribute('width', String(Math.round(this._size.w * scale)));
    copy.setAttribute('height', String(Math.round(this._size.h * scale)));
    this._miniScale = scale;
    this._frame = document.createElement('div');
    this._frame.className = 'jp-mlpipe-minimap-frame';
    this._minimap.replaceChildren(copy, this._frame);
    const go = (ev: PointerEvent) => {
      const r = copy.getBoundingClientRect();
      const gx = (ev.clientX - r.left) / scale;
      const gy = (ev.clientY - r.top) / scale;
      this._box.scrollLeft = gx * this._zoom - this._box.clientWidth / 2;
      this._box.scrollTop = gy * this._zoom - this._box.clientHeight / 2;
    };
    this._minimap.onpointerdown = ev => {
      go(ev);
      const up = () => {
        window.removeEventListener('pointermove', go);
        window.removeEventListener('pointerup', up);
      };
      window.addEventListener('pointermove', go);
      window.addEventListener('pointerup', up);
    };
  }

  /** Frame the visible part; the minimap shows only when part of the graph is out of view. */
  private _drawMinimap(): void {
    const box = this._box;
    const [w, h] = [this._size.w * this._zoom, this._size.h * this._zoom];
    const clipped = w > box.clientWidth + 2 || h > box.clientHeight + 2;
    this._minimap.hidden = !clipped;
    if (!clipped || !this._frame) {
      return;
    }
    const k = this._miniScale / this._zoom;
    Object.assign(this._frame.style, {
      left: `${box.scrollLeft * k}px`,
      top: `${box.scrollTop * k}px`,
      width: `${Math.min(w, box.clientWidth) * k}px`,
      height: `${Math.min(h, box.clientHeight) * k}px`
    });
  }

  /** Recolour the minimap's nodes as the graph's change. */
  syncMinimap(): void {
    const mini = this._minimap.querySelector('svg');
    if (!mini) {
      return;
    }
    this._svg.querySelectorAll<SVGGElement>('g.jp-mlpipe-node').forEach(n => {
      const m = mini.querySelector(
        `g.jp-mlpipe-mini-node[data-step="${CSS.escape(n.dataset.step || '')}"]`
      );
      m?.setAttribute('data-status', n.getAttribute('data-status') || '');
    });
  }

  private readonly _box: HTMLElement;
  private readonly _svg: SVGSVGElement;
  private readonly _size: { w: number; h: number };
  private readonly _minimap: HTMLElement;
  private readonly _observer: ResizeObserver;
  private _frame: HTMLElement | null = null;
  private _miniScale = 1;
  private _zoom = 1;
}
