/** REST client for /mlpipe/api/: the only module that knows its URLs (JSON shapes: tokens.ts). */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IGraph, IPipelineClient, IRun, IRunRequest } from './tokens';

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

export function startRun(body: IRunRequest): Promise<IRun> {
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

/** The REST client the panel's model uses. */
export const restClient: IPipelineClient = {
  getGraph,
  listRuns,
  getRun,
  startRun,
  cancelRun,
  openEvents: runId => new EventSource(eventsUrl(runId)),
  stepNotebookUrl
};
