/** The notebook widget's front end (anywidget ESM, bundled into jupyter_mlpipe/static/widget.js): the panel's graph renderer over the widget's traits. */
import { drawGraph, setStates } from './views/graph';
import { IGraph, StepStatus } from './tokens';

/** The part of anywidget's model this view uses. */
interface IWidgetModel {
  get(name: 'graph'): IGraph;
  get(name: 'states'): Record<string, StepStatus>;
  get(name: 'caption'): string;
  on(event: string, callback: () => void): void;
  off(event: string, callback: () => void): void;
}

/** Draw the graph at its natural size with the states (live), and the caption under it. */
function render({ model, el }: { model: IWidgetModel; el: HTMLElement }): () => void {
  el.classList.add('jp-mlpipe-widget');
  const box = document.createElement('div');
  box.className = 'jp-mlpipe-widget-graph';
  const caption = document.createElement('div');
  caption.className = 'mlpipe-caption';
  el.append(box, caption);
  const draw = () => {
    const svg = drawGraph(model.get('graph'), model.get('states'), null, () => undefined);
    svg.classList.add('mlpipe-graph');
    svg.setAttribute('width', svg.dataset.width || '100');
    svg.setAttribute('height', svg.dataset.height || '40');
    box.replaceChildren(svg);
  };
  const recolour = () => {
    const svg = box.querySelector('svg');
    if (svg) {
      setStates(svg, model.get('states'));
    }
  };
  const recaption = () => (caption.textContent = model.get('caption'));
  draw();
  recaption();
  model.on('change:graph', draw);
  model.on('change:states', recolour);
  model.on('change:caption', recaption);
  return () => {
    model.off('change:graph', draw);
    model.off('change:states', recolour);
    model.off('change:caption', recaption);
  };
}

export default { render };
