/** The panel's actions as JupyterLab commands: their ids, registration and command palette entries. */
import { ICommandPalette } from '@jupyterlab/apputils';
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { DisposableSet, IDisposable } from '@lumino/disposable';

import { PipelineModel, RunScope } from './model';

/** Command ids; keyboard shortcuts for them are in schema/panel.json. */
export namespace CommandIDs {
  export const runPipeline = 'jupyter-mlpipe:run-pipeline';
  export const runStep = 'jupyter-mlpipe:run-step';
  export const runUpTo = 'jupyter-mlpipe:run-up-to';
  export const openExecuted = 'jupyter-mlpipe:open-executed-notebook';
  export const cancelRun = 'jupyter-mlpipe:cancel-run';
  export const refresh = 'jupyter-mlpipe:refresh';
}

export const PALETTE_CATEGORY = 'Pipeline';

/** A command's optional `step` argument; the step selected in the panel otherwise. */
function stepArg(args: ReadonlyPartialJSONObject): string | undefined {
  return typeof args.step === 'string' ? args.step : undefined;
}

/** Register every panel action in `commands` (and `palette`); disposing the result removes them. */
export function addCommands(
  commands: CommandRegistry,
  model: PipelineModel,
  palette: ICommandPalette | null
): IDisposable {
  const added = new DisposableSet();
  const run = (scope: RunScope) => (args: ReadonlyPartialJSONObject) =>
    model.run(scope, stepArg(args) ?? model.selected);
  const specs: [string, CommandRegistry.ICommandOptions][] = [
    [CommandIDs.runPipeline, {
      label: 'Run Pipeline',
      caption: 'Run every step (cached ones are reused)',
      execute: run('all')
    }],
    [CommandIDs.runStep, {
      label: 'Run Selected Step',
      caption: 'Execute the selected step again (its inputs come from the cache)',
      execute: run('step')
    }],
    [CommandIDs.runUpTo, {
      label: 'Run Up To Selected Step',
      caption: 'Run the selected step and every step it needs, reusing what is cached',
      execute: run('upto')
    }],
    [CommandIDs.openExecuted, {
      label: 'Open Executed Notebook of Selected Step',
      caption: 'Open the executed notebook of the selected step from its latest run',
      execute: async args => {
        const url = await model.executedNotebookUrl(stepArg(args) ?? model.selected);
        if (url) {
          window.open(url, '_blank');
        }
      }
    }],
    [CommandIDs.cancelRun, {
      label: 'Cancel Pipeline Run',
      caption: 'Stop the run going on: running steps are stopped, finished ones stay stored',
      execute: () => model.cancel()
    }],
    [CommandIDs.refresh, {
      label: 'Refresh Pipeline',
      caption: "Reload the active notebook's pipeline graph and runs",
      execute: () => model.refresh()
    }]
  ];
  for (const [id, options] of specs) {
    added.add(commands.addCommand(id, options));
    if (palette) {
      added.add(palette.addItem({ command: id, category: PALETTE_CATEGORY }));
    }
  }
  return added;
}
