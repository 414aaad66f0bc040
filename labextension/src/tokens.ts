/** Types the panel's modules share: step statuses, the server's JSON shapes, the REST client contract. */

/** What a step is (graph) or did (run); the values of the Python `models.Status`. */
export type StepStatus =
  | 'cached'
  | 'stale'
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'reused'
  | 'failed'
  | 'skipped';

/** Where a run stands; "cancelled" is what the server records for a run stopped from the panel. */
export type RunState = 'starting' | 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled';

/** Statuses a step keeps once its run has reached it. */
export const FINAL_STATUSES: ReadonlySet<StepStatus> = new Set<StepStatus>([
  'succeeded',
  'reused',
  'failed',
  'skipped'
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
}

export interface IGraph {
  path: string;
  steps: IStep[];
  edges: { source: string; target: string; label: string }[];
  order: string[];
  warnings: string[];
  active_run: string | null;
}

export interface IStepProgress {
  name: string;
  state: StepStatus;
  duration: number | null;
  error: string | null;
  has_notebook: boolean;
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
}

/** What to run: everything, one step again (`only` + `force`), or a step and what it needs. */
export interface IRunRequest {
  path: string;
  only?: string[];
  upto?: string;
  force?: boolean;
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
  /** The executed notebook of `step` in `runId`, as a page the browser opens. */
  stepNotebookUrl(path: string, runId: string, step: string): string;
}

/** The notebook the model follows: its path, and saving it before a run. */
export interface IPipelineDocument {
  readonly path: string;
  readonly dirty: boolean;
  save(): Promise<void>;
}
