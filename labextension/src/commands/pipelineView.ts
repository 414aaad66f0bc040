/** The pipeline view's commands (palette category "Pipeline"): open the main-area view (optionally at a step) and the runs table; a sidebar node opens the view on double-click or from its context menu. */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { DisposableDelegate, DisposableSet, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

import { PipelineModel } from '../model/model';
import { CommandIDs, PALETTE_CATEGORY } from '../tokens';
import { viewClient } from '../views/pipeline/client';
import { PipelineView } from '../views/pipeline/pipelineView';
import { RunsTableView } from '../views/pipeline/runsTable';

const VIEW_ID = 'jp-mlpipe-pipeline-view';

export function addViewCommands(
  app: JupyterFrontEnd,
  model: PipelineModel,
  tracker: INotebookTracker,
  palette: ICommandPalette | null,
  sidebar: Widget
): IDisposable {
  const added = new DisposableSet();
  const find = (id: string) => [...app.shell.widgets('main')].find(w => w.id === id);
  const goToCell = (step: string) => {
    const nb = tracker.currentWidget;
    if (nb) {
      app.shell.activateById(nb.id);
    }
    if (model.selected === step) {
      model.select(null); // select again: the notebook jumps to the cell
    }
    model.select(step);
  };
  const openRun = (runId: string) => void app.commands.execute(CommandIDs.openRun, { runId });
  const openRunsTable = () => {
    const path = model.path;
    if (!path) {
      model.report(new Error('Open a notebook first.'));
      return;
    }
    const id = `jp-mlpipe-runs-table-${path}`;
    const existing = find(id);
    if (existing) {
      app.shell.activateById(id);
      ((existing as MainAreaWidget).content as RunsTableView).reload();
      return;
    }
    const content = new RunsTableView({
      client: viewClient,
      path,
      openRun,
      compare: (a, b) => void app.commands.execute(CommandIDs.compareRuns, { a, b }),
      rerun: async params => {
        if (model.path !== path) {
          throw new Error(
            `the panel follows ${model.path ?? 'no notebook'} now; open ${path} (its tab) and re-run from here again.`
          );
        }
        await app.commands.execute(CommandIDs.runWithParameters, {
          params: params as any,
          rejectErrors: true
        });
        return model.liveRun;
      },
      parameters: () => (model.path === path ? model.graph?.parameters : undefined),
      parameterTypes: () => model.graph?.parameter_types
    });
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.title.label = content.title.label;
    widget.title.closable = true;
    app.shell.add(widget, 'main');
    app.shell.activateById(id);
  };
  const openView = (args: ReadonlyPartialJSONObject) => {
    let widget = find(VIEW_ID) as MainAreaWidget | undefined;
    if (!widget) {
      const content = new PipelineView({
        model,
        client: viewClient,
        commands: app.commands,
        goToCell,
        openRun,
        openRunsTable
      });
      widget = new MainAreaWidget({ content });
      widget.id = VIEW_ID;
      widget.title.closable = true;
      content.title.changed.connect(() => (widget!.title.label = content.title.label));
      widget.title.label = content.title.label;
      app.shell.add(widget, 'main');
    }
    app.shell.activateById(VIEW_ID);
    if (typeof args.step === 'string') {
      model.select(args.step);
    }
  };
  added.add(
    app.commands.addCommand(CommandIDs.openView, {
      label: 'Open Pipeline View',
      caption:
        'The pipeline graph in the main area: click a step for its outputs, printed output, live log and metrics',
      execute: args => openView(args)
    })
  );
  added.add(
    app.commands.addCommand(CommandIDs.openRunsTable, {
      label: 'Open Pipeline Runs Table',
      caption:
        'Every run with its parameters and metrics as sortable columns; compare two, re-run one',
      execute: () => openRunsTable()
    })
  );
  if (palette) {
    added.add(palette.addItem({ command: CommandIDs.openView, category: PALETTE_CATEGORY }));
    added.add(palette.addItem({ command: CommandIDs.openRunsTable, category: PALETTE_CATEGORY }));
  }
  sidebar.node
    .querySelector('button[data-action="open-view"]')
    ?.setAttribute('title', app.commands.caption(CommandIDs.openView));
  const table = document.createElement('button');
  table.dataset.action = 'runs-table';
  table.textContent = 'Table';
  table.title = app.commands.caption(CommandIDs.openRunsTable);
  table.addEventListener('click', () => openRunsTable());
  sidebar.node.querySelector('.jp-mlpipe-runs-title')?.appendChild(table);
  const stepAt = (target: EventTarget | null) =>
    (target as Element | null)?.closest?.('g.jp-mlpipe-node')?.getAttribute('data-step') ??
    undefined;
  const onDblClick = (ev: MouseEvent) => {
    const step = stepAt(ev.target);
    if (step) {
      openView({ step });
    }
  };
  sidebar.node.addEventListener('dblclick', onDblClick);
  added.add(new DisposableDelegate(() => sidebar.node.removeEventListener('dblclick', onDblClick)));
  // a sweep point's row opens its run (the sweep table is drawn by jobsPanel.ts)
  const onSweepRow = (ev: MouseEvent) => {
    const row = (ev.target as Element | null)?.closest?.(
      '.jp-mlpipe-sweep tbody tr[data-run-id]'
    ) as HTMLElement | null;
    if (row?.dataset.runId) {
      openRun(row.dataset.runId);
    }
  };
  sidebar.node.addEventListener('click', onSweepRow);
  added.add(new DisposableDelegate(() => sidebar.node.removeEventListener('click', onSweepRow)));
  const fromMenu = 'jupyter-mlpipe:open-pipeline-view-at-node';
  added.add(
    app.commands.addCommand(fromMenu, {
      label: 'Open in Pipeline View',
      execute: () =>
        openView({
          step:
            stepAt(app.contextMenuHitTest(n => n.matches?.('g.jp-mlpipe-node') ?? false) ?? null) ??
            null
        })
    })
  );
  added.add(
    app.contextMenu.addItem({
      command: fromMenu,
      selector: '.jp-mlpipe-panel g.jp-mlpipe-node',
      rank: 0
    })
  );
  return added;
}
