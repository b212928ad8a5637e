/**
 * Typed client for the MBHealth API, always on this page's own origin (`/api/...`):
 * nginx proxies `/api/` to the backend in production, the Vite dev server does in development.
 *
 * The client is deliberately tolerant about response shapes it does not own (error bodies,
 * the 503 readiness body), and strict about the fields it needs (a task's `id` and `state`).
 */

export const API_PREFIX = '/api/v1';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  signal?: AbortSignal;
  /** Injected in tests; defaults to the global `fetch`. */
  fetchImpl?: FetchLike;
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(message: string, status: number, body: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/* ------------------------------------------------------------------ readiness */

export type Readiness =
  | { kind: 'ready' }
  /** 503 from the API: it runs, but named dependencies (database, redis, ...) fail. */
  | { kind: 'not-ready'; failing: string[] }
  /** No answer from the API itself: network error, or a proxy error such as 502/504. */
  | { kind: 'unreachable'; reason: string };

const HEALTHY_WORDS = new Set(['ok', 'up', 'pass', 'passing', 'healthy', 'ready', 'true']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHealthy(value: unknown): boolean {
  if (value === true) return true;
  if (typeof value === 'string') return HEALTHY_WORDS.has(value.trim().toLowerCase());
  if (isRecord(value)) {
    if (typeof value.ok === 'boolean') return value.ok;
    if (typeof value.healthy === 'boolean') return value.healthy;
    if ('status' in value) return isHealthy(value.status);
  }
  return false;
}

/**
 * Names of the failing dependencies in a readiness body. Understands an explicit list
 * (`failing`/`failed`/`unhealthy`: ["redis"]), a per-dependency map (`checks`/`dependencies`:
 * {"database": "ok", "redis": "error: timeout"} or {"redis": {"ok": false}}), and either of
 * those nested under FastAPI's `detail`.
 */
export function failingDependencies(body: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown, depth: number): void => {
    if (!isRecord(node) || depth > 3) return;
    for (const key of ['failing', 'failed', 'unhealthy']) {
      const list = node[key];
      if (Array.isArray(list)) {
        for (const item of list) if (typeof item === 'string') found.push(item);
      }
    }
    for (const key of ['checks', 'dependencies']) {
      const map = node[key];
      if (isRecord(map)) {
        for (const [name, value] of Object.entries(map)) if (!isHealthy(value)) found.push(name);
      }
    }
    visit(node.detail, depth + 1);
  };
  visit(body, 0);
  return [...new Set(found)];
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A human-readable message from an error body (FastAPI `detail`, a `message`, or the status). */
export function errorMessage(body: unknown, status: number): string {
  if (typeof body === 'string' && body.trim() && body.length < 200 && !body.includes('<')) {
    return body.trim();
  }
  if (isRecord(body)) {
    const detail = body.detail;
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      const messages = detail
        .map((item) => (isRecord(item) && typeof item.msg === 'string' ? item.msg : null))
        .filter((msg): msg is string => msg !== null);
      if (messages.length) return messages.join('; ');
    }
    if (typeof body.message === 'string') return body.message;
  }
  return `HTTP ${status}`;
}

export async function getReadiness(options: RequestOptions = {}): Promise<Readiness> {
  const fetchImpl = options.fetchImpl ?? fetch;
  let response: Response;
  try {
    response = await fetchImpl(`${API_PREFIX}/health/ready`, {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    return { kind: 'unreachable', reason: error instanceof Error ? error.message : String(error) };
  }
  if (response.ok) return { kind: 'ready' };
  if (response.status === 503) {
    const body = await readJson(response);
    // A 503 that is not JSON comes from a proxy in front of the API, not from the API.
    if (isRecord(body)) return { kind: 'not-ready', failing: failingDependencies(body) };
  }
  return { kind: 'unreachable', reason: `HTTP ${response.status}` };
}

/* ---------------------------------------------------------------------- tasks */

/** Celery task states; unknown future states are passed through as strings. */
export type TaskState =
  | 'PENDING'
  | 'RECEIVED'
  | 'STARTED'
  | 'RETRY'
  | 'SUCCESS'
  | 'FAILURE'
  | 'REVOKED'
  | (string & {});

export interface Task {
  id: string;
  state: TaskState;
  /** The task's return value (JSON) once SUCCESS. */
  result: unknown;
  /** Why it failed (the API names the exception type), once FAILURE. */
  error: string | null;
}

const FINAL_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

export function isFinal(state: TaskState): boolean {
  return FINAL_STATES.has(state);
}

function toTask(body: unknown, fallbackId?: string): Task {
  if (!isRecord(body)) throw new ApiError('The API answered without a task object', 200, body);
  const rawId = body.id ?? body.task_id ?? fallbackId;
  if (typeof rawId !== 'string' || !rawId) {
    throw new ApiError('The API answered without a task id', 200, body);
  }
  const state = typeof body.state === 'string' ? body.state : typeof body.status === 'string' ? body.status : 'PENDING';
  const error = typeof body.error === 'string' && body.error ? body.error : null;
  return { id: rawId, state: state.toUpperCase(), result: body.result ?? null, error };
}

async function requestJson(path: string, init: RequestInit, options: RequestOptions): Promise<unknown> {
  const fetchImpl = options.fetchImpl ?? fetch;
  const response = await fetchImpl(`${API_PREFIX}${path}`, {
    ...init,
    headers: { Accept: 'application/json', ...(init.headers ?? {}) },
    signal: options.signal,
  });
  const body = await readJson(response);
  if (!response.ok) throw new ApiError(errorMessage(body, response.status), response.status, body);
  return body;
}

/** Enqueue a task: `POST /api/v1/tasks` with `{"n": n}`; the API answers 202 with `{"task_id", "state"}`. */
export async function startTask(n: number, options: RequestOptions = {}): Promise<Task> {
  const body = await requestJson(
    '/tasks',
    { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ n }) },
    options,
  );
  return toTask(body);
}

/** A task's state and result: `GET /api/v1/tasks/{id}` -> `{"task_id", "state", "result", "error"}`. */
export async function getTask(id: string, options: RequestOptions = {}): Promise<Task> {
  const body = await requestJson(`/tasks/${encodeURIComponent(id)}`, { method: 'GET', cache: 'no-store' }, options);
  return toTask(body, id);
}
