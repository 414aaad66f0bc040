/** The pipeline view's REST calls and JSON shapes: a step's outputs, its live log, the runs table (server/step_routes.py, history_routes.py). */
import { request } from '../../model/api';

/** A stored output's preview, made when the step saved it (store/previews.py). */
export interface IPreview {
  kind: 'dataframe' | 'series' | 'array' | 'scalar' | 'object';
  type: string;
  shape?: number[];
  dtype?: string;
  dtypes?: Record<string, string>;
  columns?: string[];
  index?: unknown[];
  head?: unknown[] | unknown[][];
  more_columns?: number;
  nbytes?: number;
  summary?: {
    min: unknown;
    max: unknown;
    mean: unknown;
    std: unknown;
    sampled?: number;
    every?: number | null;
  };
  value?: unknown;
  repr?: string;
  length?: number;
  name?: string;
  error?: string;
  trimmed?: boolean;
}

/** Something the step's cell printed or drew in its executed notebook. */
export type IPrinted =
  | { type: 'stream' | 'text'; name: string; text: string }
  | { type: 'image'; mime: string; data: string };

export interface ILoggedMetric {
  name: string;
  value: number | string;
  kind: string;
  iteration: number | null;
}

/** GET steps/STEP/outputs. */
export interface IStepOutputs {
  step: string;
  run_id: string;
  state: string;
  reused: boolean;
  executed_run: string;
  /** With a key asked for: whether these outputs are the step's result under it (false: an older result). */
  current: boolean | null;
  has_notebook: boolean;
  body_cell: number | null;
  started: number | null;
  finished: number | null;
  outputs: { name: string; digest: string; preview: IPreview | null }[];
  printed: IPrinted[];
  metrics: ILoggedMetric[];
  params: Record<string, unknown>;
}

/** GET runs/ID/steps/STEP/log. */
export interface IStepLog {
  text: string;
  offset: number;
  size: number;
  exists: boolean;
  live: boolean;
}

/** One row of GET run-table. */
export interface IRunRow {
  run_id: string;
  state: string;
  trigger: string | null;
  started: number;
  finished: number | null;
  duration: number | null;
  counts: Record<string, number>;
  params: Record<string, unknown>;
  logged_params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

export interface IRunTable {
  runs: IRunRow[];
  params: string[];
  metrics: string[];
}

/** What the view asks the server (a fake in unit tests). */
export interface IViewClient {
  stepOutputs(path: string, step: string, runId?: string, key?: string): Promise<IStepOutputs>;
  stepLog(path: string, runId: string, step: string, offset: number): Promise<IStepLog>;
  runTable(path: string): Promise<IRunTable>;
}

export const viewClient: IViewClient = {
  stepOutputs: (path, step, runId, key) =>
    request<IStepOutputs>(`steps/${step}/outputs`, {
      path,
      ...(runId ? { run: runId } : {}),
      ...(key ? { key } : {})
    }),
  stepLog: (path, runId, step, offset) =>
    request<IStepLog>(`runs/${runId}/steps/${step}/log`, { path, offset: String(offset) }),
  runTable: path => request<IRunTable>('run-table', { path })
};
