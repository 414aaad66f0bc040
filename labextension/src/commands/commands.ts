/** The panel's actions as JupyterLab commands: their ids, registration and command palette entries. */
import { ICommandPalette } from '@jupyterlab/apputils';
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { DisposableDelegate, DisposableSet, IDisposable } from '@lumino/disposable';

import { debugStep } from '../model/api';
import { latestExecutedRun } from '../model/history';
import { JobsModel } from '../model/jobs';
import { PipelineModel } from '../model/model';
import { Views } from '../views/views';
import { CommandIDs, PALETTE_CATEGORY, RunScope } from '../tokens';

/** A command's optional `step` argument; the step selected in the panel otherwise. */
function stepArg(args: ReadonlyPartialJSONObject): string | undefined {
  return typeof args.step === 'string' ? args.step : undefined;
}

function stringArg(args: ReadonlyPartialJSONObject, name: string): string | undefined {
  return typeof args[name] === 'string' ? (args[name] as string) : undefined;
}

/** Run `fn` for the followed notebook's path; errors go to the panel. */
function withPath(model: PipelineModel, fn: (path: string) => Promise<unknown>): Promise<unknown> {
  const path = model.path;
  if (!path) {
    return Promise.resolve(model.report(new Error('Open a notebook first.')));
  }
  return fn(path).catch(err => model.report(err));
}

/** The executed notebook of `step` (from `runId`, or its latest run that has one), opened read-only. */
async function openExecuted(
  model: PipelineModel,
  views: Views,
  path: string,
  step: string | undefined,
  runId?: string
) {
  if (!step) {
    return model.report(new Error('Select a step in the graph first.'));
  }
  const found = runId ?? (await latestExecutedRun(model.client, path, step));
  if (!found) {
    return model.report(
      new Error(`No executed notebook for '${step}' yet: it was reused or never ran.`)
    );
  }
  await views.openExecuted(path, found, step);
}

/** Register every panel action in `commands` (and `palette`); disposing the result removes them. */
export function addCommands(
  commands: CommandRegistry,
  model: PipelineModel,
  palette: ICommandPalette | null,
  views: Views,
  jobs: JobsModel
): IDisposable {
  const added = new DisposableSet();
  const run = (scope: RunScope) => (args: ReadonlyPartialJSONObject) =>
    model.run(scope, stepArg(args) ?? model.selected);
  const specs: [string, CommandRegistry.ICommandOptions][] = [
    [
      CommandIDs.runPipeline,
      {
        label: 'Run Pipeline',
        caption: 'Run every step (cached ones are reused)',
        execute: run('all')
      }
    ],
    [
      CommandIDs.runStep,
      {
        label: 'Run Selected Step',
        caption: 'Execute the selected step again (its inputs come from the cache)',
        execute: run('step')
      }
    ],
    [
      CommandIDs.runUpTo,
      {
        label: 'Run Up To Selected Step',
        caption: 'Run the selected step and every step it needs, reusing what is cached',
        execute: run('upto')
      }
    ],
    [
      CommandIDs.openExecuted,
      {
        label: 'Open Executed Notebook of Selected Step',
        caption: 'Open the executed notebook of the selected step from its latest run, read-only',
        execute: args =>
          withPath(model, path =>
            openExecuted(
              model,
              views,
              path,
              stepArg(args) ?? model.selected ?? undefined,
              stringArg(args, 'runId')
            )
          )
      }
    ],
    [
      CommandIDs.cancelRun,
      {
        label: 'Cancel Pipeline Run',
        caption: 'Stop the run going on: running steps are stopped, finished ones stay stored',
        execute: () => model.cancel(),
        isEnabled: () => !!model.liveRun
      }
    ],
    [
      CommandIDs.runWithParameters,
      {
        label: 'Run Pipeline With Parameters',
        caption: "Run every step with these values instead of the parameters cell's",
        execute: args =>
          model.run('all', null, (args.params as Record<string, unknown>) || {}, {
            rejectErrors: !!args.rejectErrors
          })
      }
    ],
    [
      CommandIDs.openRun,
      {
        label: 'Open Pipeline Run',
        caption: 'A past run: its steps, parameters, metrics and timeline',
        execute: args =>
          withPath(model, path =>
            views.openRun(path, stringArg(args, 'runId') ?? model.runs?.[0]?.run_id ?? '')
          )
      }
    ],
    [
      CommandIDs.compareRuns,
      {
        label: 'Compare Two Pipeline Runs',
        caption:
          'Parameters, metrics and changed steps of two runs side by side (the last two by default)',
        execute: args =>
          withPath(model, path =>
            views.openCompare(
              path,
              stringArg(args, 'a') ?? model.runs?.[1]?.run_id ?? '',
              stringArg(args, 'b') ?? model.runs?.[0]?.run_id ?? ''
            )
          )
      }
    ],
    [
      CommandIDs.showMetrics,
      {
        label: 'Show Pipeline Metrics Across Runs',
        caption: 'Each logged metric as a line chart over the runs of this notebook',
        execute: () => withPath(model, path => views.openMetrics(path))
      }
    ],
    [
      CommandIDs.runSweep,
      {
        label: 'Run Parameter Sweep',
        caption: 'Run every combination of the given values (args: sweep {name: [values]}, params)',
        execute: args =>
          jobs
            .startSweep({
              sweep: (args.sweep as Record<string, unknown[]>) || {},
              params: (args.params as Record<string, unknown>) || {}
            })
            .then(() => model.report(null))
            .catch(err => {
              if (args.rejectErrors) {
                throw err; // the form that asked says it next to itself
              }
              model.report(err);
            })
      }
    ],
    [
      CommandIDs.showSchedules,
      {
        label: 'Show Schedules',
        caption: "The notebook's schedules: every / cron / on-change, next time and last run",
        execute: () => jobs.revealSchedules().catch(err => model.report(err))
      }
    ],
    [
      CommandIDs.debugStep,
      {
        label: 'Debug Selected Step in Notebook',
        caption:
          "Open a notebook with the step's stored inputs, its run's parameters, the prelude and its body",
        execute: args =>
          withPath(model, async path => {
            const step = stepArg(args) ?? model.selected;
            if (!step) {
              return model.report(new Error('Select a step in the graph first.'));
            }
            const written = await debugStep(path, step);
            await commands.execute('docmanager:open', { path: written.path });
          })
      }
    ],
    [
      CommandIDs.refresh,
      {
        label: 'Refresh Pipeline',
        caption: "Reload the active notebook's pipeline graph and runs",
        execute: () => model.refresh()
      }
    ]
  ];
  const cancelChanged = () => commands.notifyCommandChanged(CommandIDs.cancelRun);
  model.liveRunChanged.connect(cancelChanged);
  added.add(new DisposableDelegate(() => model.liveRunChanged.disconnect(cancelChanged)));
  for (const [id, options] of specs) {
    added.add(commands.addCommand(id, options));
    if (palette) {
      added.add(palette.addItem({ command: id, category: PALETTE_CATEGORY }));
    }
  }
  return added;
}
