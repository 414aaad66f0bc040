/** REST client for /mlpipe/api/: the only module that knows URLs and JSON shapes. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IStep {
  name: string;
  cell: number;
  cell_id: string | null;
  inputs: string[];
  outputs: string[];
  upstream: string[];
  status: string;
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
  state: string;
  duration: number | null;
  error: string | null;
  has_notebook: boolean;
}

export interface IRun {
  run_id: string;
  state: string;
  started: number;
  finished: number | null;
  duration: number | null;
  error?: string | null;
  live: boolean;
  steps?: IStepProgress[];
}

function apiUrl(endpoint: string, query: Record<string, string> = {}): string {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'mlpipe/api', endpoint);
  const q = new URLSearchParams(query).toString();
  return q ? `${url}?${q}` : url;
}

/** Call the API; a non-2xx answer becomes an Error carrying the server's message. */
export async function request<T>(
  endpoint: string,
  query: Record<string, string> = {},
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const response = await ServerConnection.makeRequest(apiUrl(endpoint, query), init, settings);
  const text = await response.text();
  let data: any = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    throw new Error(`${response.status}: ${data.message || response.statusText}`);
  }
  return data as T;
}

export function getGraph(path: string): Promise<IGraph> {
  return request<IGraph>('graph', { path });
}

export function listRuns(path: string, limit = 8): Promise<{ runs: IRun[] }> {
  return request<{ runs: IRun[] }>('runs', { path, limit: String(limit) });
}

export function getRun(path: string, runId: string): Promise<IRun> {
  return request<IRun>(`runs/${runId}`, { path });
}

export function startRun(body: {
  path: string;
  only?: string[];
  upto?: string;
  force?: boolean;
}): Promise<IRun> {
  return request<IRun>('runs', {}, { method: 'POST', body: JSON.stringify(body) });
}

export function cancelRun(runId: string): Promise<IRun> {
  return request<IRun>(`runs/${runId}`, {}, { method: 'DELETE' });
}

/** URLs the browser opens itself (EventSource, a new tab) carry the token when there is one. */
function withToken(endpoint: string, query: Record<string, string>): string {
  const token = ServerConnection.makeSettings().token;
  return apiUrl(endpoint, token ? { ...query, token } : query);
}

export function eventsUrl(runId: string): string {
  return withToken(`runs/${runId}/events`, {});
}

export function stepNotebookUrl(path: string, runId: string, step: string): string {
  return withToken(`runs/${runId}/steps/${step}/notebook`, { path, format: 'html' });
}
