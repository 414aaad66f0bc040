/** JupyterLab plugin: adds the jupyter_mlpipe pipeline panel to the left sidebar. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { PipelinePanel } from './panel';

const icon = new LabIcon({
  name: 'jupyter-mlpipe:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">' +
    '<g class="jp-icon3" fill="#616161"><rect x="1" y="1" width="6" height="4" rx="1"/>' +
    '<rect x="9" y="6" width="6" height="4" rx="1"/><rect x="1" y="11" width="6" height="4" rx="1"/>' +
    '<path d="M4 5v6h1V5zM7 3h4v3h-1V4H7zM10 10v3H7v-1h2v-2z"/></g></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlpipe-labextension:panel',
  description: 'The active notebook\'s pipeline graph, live runs and run history.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, restorer: ILayoutRestorer | null) => {
    const panel = new PipelinePanel(tracker);
    panel.title.icon = icon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'jupyter-mlpipe-panel');
    }
  }
};

export default plugin;
