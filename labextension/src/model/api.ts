/** REST client for /mlpipe/api/: the only module that knows its URLs (JSON shapes: tokens.ts). */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IGraph,
  IJobsClient,
  IMetricPoint,
  IPipelineClient,
  IRun,
  IRunComparison,
  IRunRecord,
  IRunRequest,
  ISchedule,
  IStepFailure,
  ISweep
} from '../tokens';

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

export function getStepNotebook(path: string, runId: string, step: string): Promise<any> {
  return request<any>(`runs/${runId}/steps/${step}/notebook`, { path });
}

export function getStepFailure(path: string, runId: string, step: string): Promise<IStepFailure> {
  return request<IStepFailure>(`runs/${runId}/steps/${step}/failure`, { path });
}

export function getRunRecord(path: string, runId: string): Promise<IRunRecord> {
  return request<IRunRecord>(`runs/${runId}/record`, { path });
}

export function compareRuns(path: string, a: string, b: string): Promise<IRunComparison> {
  return request<IRunComparison>('compare', { path, a, b });
}

export function metricsAcrossRuns(path: string): Promise<{ runs: IMetricPoint[] }> {
  return request<{ runs: IMetricPoint[] }>('metrics', { path });
}

/** "Debug in notebook": the server writes STEP's debug notebook beside `path`; its path comes back. */
export function debugStep(path: string, step: string): Promise<{ path: string }> {
  return request<{ path: string }>(
    'debug',
    {},
    { method: 'POST', body: JSON.stringify({ path, step }) }
  );
}

/** The REST client the panel's model uses. */
export const restClient: IPipelineClient = {
  getGraph,
  listRuns,
  getRun,
  startRun,
  cancelRun,
  openEvents: runId => new EventSource(eventsUrl(runId)),
  getStepNotebook,
  getStepFailure,
  getRunRecord,
  compareRuns,
  metricsAcrossRuns
};

/** The sweeps and schedules routes the jobs model uses. */
export const jobsClient: IJobsClient = {
  startSweep: body => request<ISweep>('sweeps', {}, { method: 'POST', body: JSON.stringify(body) }),
  getSweep: sweepId => request<ISweep>(`sweeps/${sweepId}`),
  listSchedules: path => request<{ schedules: ISchedule[] }>('schedules', { path })
};
