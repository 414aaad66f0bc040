/** JupyterLab plugin: the pipeline model, its commands (palette category "Pipeline") and the left-sidebar panel. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { jobsClient, restClient } from './model/api';
import { addCommands } from './commands/commands';
import { JobsModel } from './model/jobs';
import { PipelineModel } from './model/model';
import { NotebookLink } from './model/notebookLink';
import { PipelinePanel } from './views/panel';
import { Views } from './views/views';
import { addViewCommands } from './commands/pipelineView';
import { IMlpipeTracker } from './tokens';

const icon = new LabIcon({
  name: 'jupyter-mlpipe:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">' +
    '<g class="jp-icon3" fill="#616161"><rect x="1" y="1" width="6" height="4" rx="1"/>' +
    '<rect x="9" y="6" width="6" height="4" rx="1"/><rect x="1" y="11" width="6" height="4" rx="1"/>' +
    '<path d="M4 5v6h1V5zM7 3h4v3h-1V4H7zM10 10v3H7v-1h2v-2z"/></g></svg>'
});

const plugin: JupyterFrontEndPlugin<IMlpipeTracker> = {
  id: 'jupyter-mlpipe-labextension:panel',
  description: "The active notebook's pipeline graph, live runs and run history.",
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry, IEditorServices, NotebookPanel.IContentFactory],
  optional: [ILayoutRestorer, ICommandPalette],
  provides: IMlpipeTracker,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    editorServices: IEditorServices,
    contentFactory: NotebookPanel.IContentFactory,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): IMlpipeTracker => {
    const model = new PipelineModel(restClient);
    const link = new NotebookLink(tracker, model);
    const views = new Views({
      app,
      client: restClient,
      rendermime,
      editorServices,
      contentFactory
    });
    const jobs = new JobsModel(jobsClient, { onSweepEnded: () => void model.refresh() });
    model.graphChanged.connect(() => {
      if (model.path !== jobs.path) {
        jobs.follow(model.path);
      }
    });
    const commands = addCommands(app.commands, model, palette, views, jobs);
    const panel = new PipelinePanel(model, jobs, app.commands);
    jobs.schedulesRevealed.connect(() => app.shell.activateById(panel.id));
    panel.title.icon = icon;
    const viewCommands = addViewCommands(app, model, tracker, palette, panel);
    panel.disposed.connect(() => {
      viewCommands.dispose();
      commands.dispose();
      link.dispose();
      jobs.dispose();
      model.dispose();
    });
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'jupyter-mlpipe-panel');
    }
    return model; // for other extensions: the followed notebook's pipeline
  }
};

export default plugin;
