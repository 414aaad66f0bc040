/** What the panel's modules share, and what other extensions may use: step statuses, the server's JSON shapes, the REST client contract, the command ids, and the IMlpipeTracker token. */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/** What a step is (graph) or did (run); the values of the Python `models.Status`. */
export type StepStatus =
  | 'cached'
  | 'stale'
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'reused'
  | 'failed'
  | 'skipped'
  | 'cancelled'
  | 'invalid';

/** Where a run stands; "cancelled" is what the server records for a run stopped from the panel. */
export type RunState =
  'starting' | 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled';

/** Statuses a step keeps once its run has reached it. */
export const FINAL_STATUSES: ReadonlySet<StepStatus> = new Set<StepStatus>([
  'succeeded',
  'reused',
  'failed',
  'skipped',
  'cancelled'
]);

export interface IStep {
  name: string;
  cell: number;
  cell_id: string | null;
  inputs: string[];
  outputs: string[];
  upstream: string[];
  status: StepStatus;
  reasons: string[];
  duration: number | null;
  /** Stale because its own code or parameters changed (true), or only maybe through its inputs. */
  certain?: boolean;
  /** "will re-run", "may re-run" (stale), "invalid" (the cell cannot be read). */
  verdict?: string | null;
  /** The step's cache key now (null when it cannot be computed); the pipeline view asks for the outputs stored under it. */
  key?: string | null;
  /** Why the cell cannot be read (status "invalid"), with its cell number. */
  error?: string | null;
  /** What `mlpipe verify` found for the stored result: same, differs, nondeterministic, failed. */
  verify?: { verdict: string; differing: string[] } | null;
}

export interface IGraph {
  path: string;
  steps: IStep[];
  edges: { source: string; target: string; label: string }[];
  order: string[];
  warnings: string[];
  /** Cells that cannot be read: their steps are drawn "invalid" (or left out), the rest as usual. */
  errors?: string[];
  active_run: string | null;
  /** The parameters cell's values (a run may override them). */
  parameters?: Record<string, unknown>;
  /** Each parameter's Python type ("int", "float", ..., "expression"): JSON writes 1.0 as 1. */
  parameter_types?: Record<string, string>;
}

export interface IStepProgress {
  name: string;
  state: StepStatus;
  duration: number | null;
  error: string | null;
  has_notebook: boolean;
  started?: number | null;
  finished?: number | null;
  reused?: boolean;
  /** Tries so far (--retries); more than 1 when an earlier try failed. */
  attempts?: number;
}

export interface IRun {
  run_id: string;
  state: RunState;
  started: number;
  finished: number | null;
  duration: number | null;
  error?: string | null;
  live: boolean;
  steps?: IStepProgress[];
  /** How many steps ended in each state, e.g. {reused: 4}. */
  counts?: Record<string, number>;
  /** What started it when not a person: "sweep ID point 2/6", "schedule ID", ... */
  trigger?: string | null;
}

/** What to run: everything, one step again (`only` + `force`), or a step and what it needs. */
export interface IRunRequest {
  path: string;
  only?: string[];
  upto?: string;
  force?: boolean;
  params?: Record<string, unknown>;
}

/** A finished run as GET runs/ID/record gives it: steps, parameters, last metric values. */
export interface IRunRecord {
  run_id: string;
  state: RunState;
  started: number;
  finished: number | null;
  duration: number | null;
  error: string | null;
  params: Record<string, unknown>;
  logged_params: Record<string, unknown>;
  metrics: Record<string, { value: number | string; step: string; reused: boolean }>;
  steps: IStepProgress[];
}

/** Two runs side by side (GET compare): what differs, as `mlpipe runs --compare` prints it. */
export interface IRunComparison {
  a: IRunRecord;
  b: IRunRecord;
  params: Record<string, [unknown, unknown]>;
  metrics: Record<string, [unknown, unknown]>;
  steps: Record<string, string>;
}

/** One run's metric values, a point per metric on the chart across runs. */
export interface IMetricPoint {
  run_id: string;
  started: number;
  state: RunState;
  metrics: Record<string, number>;
}

/** How a failed step failed, read from its executed notebook. */
export interface IStepFailure {
  step: string;
  run_id: string;
  ename: string;
  evalue: string;
  traceback: string;
  line: number | null;
  line_text: string | null;
}

/** The final server-sent event of a run. */
export interface IRunEnded {
  run_id: string;
  state: RunState;
  error: string | null;
}

/** The part of the browser's EventSource the model uses (a fake one in unit tests). */
export interface IEventStream {
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  onerror: ((ev: Event) => unknown) | null;
  close(): void;
}

/** The server's /mlpipe/api/, as the model sees it (api.ts implements it over REST). */
export interface IPipelineClient {
  getGraph(path: string): Promise<IGraph>;
  listRuns(path: string, limit?: number): Promise<{ runs: IRun[] }>;
  getRun(path: string, runId: string): Promise<IRun>;
  startRun(body: IRunRequest): Promise<IRun>;
  cancelRun(runId: string): Promise<IRun>;
  /** Server-sent events of a live run: snapshot, step..., run. */
  openEvents(runId: string): IEventStream;
  /** The executed notebook of `step` in `runId` (nbformat JSON). */
  getStepNotebook(path: string, runId: string, step: string): Promise<any>;
  getStepFailure(path: string, runId: string, step: string): Promise<IStepFailure>;
  getRunRecord(path: string, runId: string): Promise<IRunRecord>;
  compareRuns(path: string, a: string, b: string): Promise<IRunComparison>;
  metricsAcrossRuns(path: string): Promise<{ runs: IMetricPoint[] }>;
}

/** The notebook the model follows: its path, and saving it before a run. */
export interface IPipelineDocument {
  readonly path: string;
  readonly dirty: boolean;
  save(): Promise<void>;
}

/** One point of a sweep once it ended: its parameters, its run, the metrics its steps logged. */
export interface ISweepPoint {
  params: Record<string, unknown>;
  run_id: string | null;
  state: RunState;
  metrics: Record<string, number>;
  error: string | null;
}

/** GET sweeps/ID: while running, `points` maps a finished point's index to its run id; once ended, the list. */
export interface ISweep {
  sweep_id: string;
  path: string;
  state: 'running' | 'succeeded' | 'failed';
  swept?: string[];
  ok?: boolean;
  points: ISweepPoint[] | Record<string, string>;
  error?: string | null;
}

/** GET schedules: one schedule (exactly one of every, cron, on_change), its next time and last run. */
export interface ISchedule {
  id: string;
  notebook: string;
  every?: string;
  cron?: string;
  on_change?: string[];
  params?: Record<string, unknown>;
  created?: number;
  when: string;
  next: number | null;
  last_run: { run_id: string; started: number; finished: number | null; state: RunState } | null;
  error?: string;
}

/** The server's sweeps and schedules routes, as the jobs model sees them. */
export interface IJobsClient {
  startSweep(body: {
    path: string;
    sweep: Record<string, unknown[]>;
    params?: Record<string, unknown>;
  }): Promise<ISweep>;
  getSweep(sweepId: string): Promise<ISweep>;
  listSchedules(path: string): Promise<{ schedules: ISchedule[] }>;
}

/** Command ids; keyboard shortcuts for them are in schema/panel.json. */
export namespace CommandIDs {
  export const runPipeline = 'jupyter-mlpipe:run-pipeline';
  export const runStep = 'jupyter-mlpipe:run-step';
  export const runUpTo = 'jupyter-mlpipe:run-up-to';
  export const openExecuted = 'jupyter-mlpipe:open-executed-notebook';
  export const cancelRun = 'jupyter-mlpipe:cancel-run';
  export const refresh = 'jupyter-mlpipe:refresh';
  export const runWithParameters = 'jupyter-mlpipe:run-with-parameters';
  export const openRun = 'jupyter-mlpipe:open-run';
  export const compareRuns = 'jupyter-mlpipe:compare-runs';
  export const showMetrics = 'jupyter-mlpipe:show-metrics';
  export const runSweep = 'jupyter-mlpipe:run-sweep';
  export const showSchedules = 'jupyter-mlpipe:show-schedules';
  export const debugStep = 'jupyter-mlpipe:debug-step';
  export const openView = 'jupyter-mlpipe:open-pipeline-view';
  export const openRunsTable = 'jupyter-mlpipe:open-runs-table';
}

export const PALETTE_CATEGORY = 'Pipeline';

/** What a run button runs: every step, the selected step again, or it and what it needs. */
export type RunScope = 'all' | 'step' | 'upto';

/** The pipeline of the notebook the panel follows, for other extensions (require IMlpipeTracker). */
export interface IMlpipeTracker {
  /** The followed notebook's path (relative to the server root), or null. */
  readonly path: string | null;
  /** Its pipeline graph as the server last described it (steps, edges, statuses). */
  readonly graph: IGraph | null;
  /** Each step's status now: cached, stale, running, ... */
  readonly states: Readonly<Record<string, StepStatus>>;
  readonly graphChanged: ISignal<any, IGraph | null>;
  readonly statesChanged: ISignal<any, Readonly<Record<string, StepStatus>>>;
  /** Run the pipeline, one step, or up to a step (saving the notebook first). */
  run(scope: RunScope, step?: string | null, params?: Record<string, unknown>): Promise<void>;
}

export const IMlpipeTracker = new Token<IMlpipeTracker>(
  'jupyter-mlpipe-labextension:IMlpipeTracker',
  'The pipeline of the notebook the jupyter_mlpipe panel follows: its graph, step statuses and runs.'
);
