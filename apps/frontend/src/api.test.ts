import { describe, expect, it } from 'vitest';
import { ApiError, errorMessage, failingDependencies, getReadiness, getTask, isFinal, startTask } from './api';
import { fakeFetch, json } from './test/fakeFetch';

describe('getReadiness', () => {
  it('is ready on 200 and asks the same-origin ready endpoint', async () => {
    const fetchImpl = fakeFetch(() => json(200, { status: 'ready' }));
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({ kind: 'ready' });
    expect(fetchImpl.requests).toEqual([
      expect.objectContaining({ method: 'GET', url: '/api/v1/health/ready' }),
    ]);
    expect(fetchImpl.requests[0]?.headers.accept).toBe('application/json');
  });

  it('names the failing dependencies of a 503 JSON body', async () => {
    const fetchImpl = fakeFetch(() =>
      json(503, { status: 'not_ready', checks: { database: 'ok', redis: 'error: timeout' } }),
    );
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({ kind: 'not-ready', failing: ['redis'] });
  });

  it("understands the MBHealth API's own 503 body", async () => {
    const fetchImpl = fakeFetch(() =>
      json(503, {
        status: 'unavailable',
        checks: { postgresql: { status: 'error', error: 'OperationalError' }, redis: { status: 'ok' } },
        failed: ['postgresql'],
      }),
    );
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({ kind: 'not-ready', failing: ['postgresql'] });
  });

  it('reads a 503 body nested under FastAPI detail', async () => {
    const fetchImpl = fakeFetch(() => json(503, { detail: { failing: ['database', 'redis'] } }));
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({
      kind: 'not-ready',
      failing: ['database', 'redis'],
    });
  });

  it('treats a non-JSON 503 (a proxy page) as the API being unreachable', async () => {
    const fetchImpl = fakeFetch(() => new Response('<html>503 Service Unavailable</html>', { status: 503 }));
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({ kind: 'unreachable', reason: 'HTTP 503' });
  });

  it('reports a proxy 502 as unreachable', async () => {
    const fetchImpl = fakeFetch(() => new Response('Bad Gateway', { status: 502 }));
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({ kind: 'unreachable', reason: 'HTTP 502' });
  });

  it('reports a network error as unreachable with its message', async () => {
    const fetchImpl = fakeFetch(() => Promise.reject(new TypeError('Failed to fetch')));
    await expect(getReadiness({ fetchImpl })).resolves.toEqual({
      kind: 'unreachable',
      reason: 'Failed to fetch',
    });
  });
});

describe('failingDependencies', () => {
  it.each([
    [{ checks: { database: true, redis: false } }, ['redis']],
    [{ checks: { database: { ok: false, error: 'refused' }, redis: { ok: true } } }, ['database']],
    [{ dependencies: { database: { status: 'down' }, redis: { status: 'up' } } }, ['database']],
    [{ failed: ['redis'], checks: { redis: 'fail', database: 'OK' } }, ['redis']],
    [{ status: 'ready' }, []],
    ['not an object', []],
  ])('%j -> %j', (body, expected) => {
    expect(failingDependencies(body)).toEqual(expected);
  });
});

describe('errorMessage', () => {
  it('prefers FastAPI detail, joins validation messages, falls back to the status', () => {
    expect(errorMessage({ detail: 'Task not found' }, 404)).toBe('Task not found');
    expect(errorMessage({ detail: [{ msg: 'too big' }, { msg: 'not an int' }] }, 422)).toBe('too big; not an int');
    expect(errorMessage('<html>oops</html>', 500)).toBe('HTTP 500');
    expect(errorMessage(null, 500)).toBe('HTTP 500');
  });
});

describe('startTask', () => {
  it('POSTs {"n": n} as JSON and returns the task', async () => {
    const fetchImpl = fakeFetch(() => json(202, { id: 'abc-1', state: 'PENDING' }));
    await expect(startTask(7, { fetchImpl })).resolves.toEqual({
      id: 'abc-1',
      state: 'PENDING',
      result: null,
      error: null,
    });
    const [request] = fetchImpl.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/api/v1/tasks', body: { n: 7 } });
    expect(request?.headers['content-type']).toBe('application/json');
  });

  it('accepts task_id as the id field', async () => {
    const fetchImpl = fakeFetch(() => json(201, { task_id: 'xyz', status: 'pending' }));
    await expect(startTask(1, { fetchImpl })).resolves.toEqual({ id: 'xyz', state: 'PENDING', result: null, error: null });
  });

  it('raises ApiError with the validation message on 422', async () => {
    const fetchImpl = fakeFetch(() => json(422, { detail: [{ msg: 'Input should be less than 1001' }] }));
    const error = await startTask(5000, { fetchImpl }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, message: 'Input should be less than 1001' });
  });

  it('rejects a success answer without an id', async () => {
    const fetchImpl = fakeFetch(() => json(202, { state: 'PENDING' }));
    await expect(startTask(1, { fetchImpl })).rejects.toThrow('without a task id');
  });
});

describe('getTask', () => {
  it("reads the MBHealth API's task shape, error included", async () => {
    const id = '0b7c1f9e-2f7a-4a34-9c51-3f4bb9a0d7e1';
    const fetchImpl = fakeFetch(() => json(200, { task_id: id, state: 'FAILURE', result: null, error: 'ValueError' }));
    await expect(getTask(id, { fetchImpl })).resolves.toEqual({ id, state: 'FAILURE', result: null, error: 'ValueError' });
  });

  it('GETs the task by encoded id', async () => {
    const fetchImpl = fakeFetch(() => json(200, { id: 'a/b', state: 'SUCCESS', result: 55 }));
    await expect(getTask('a/b', { fetchImpl })).resolves.toEqual({
      id: 'a/b',
      state: 'SUCCESS',
      result: 55,
      error: null,
    });
    expect(fetchImpl.requests[0]?.url).toBe('/api/v1/tasks/a%2Fb');
  });

  it('raises ApiError 404 for an unknown task', async () => {
    const fetchImpl = fakeFetch(() => json(404, { detail: 'Task not found' }));
    await expect(getTask('nope', { fetchImpl })).rejects.toMatchObject({ status: 404, message: 'Task not found' });
  });
});

describe('isFinal', () => {
  it('knows Celery final states', () => {
    expect(['SUCCESS', 'FAILURE', 'REVOKED'].every(isFinal)).toBe(true);
    expect(['PENDING', 'STARTED', 'RETRY'].some(isFinal)).toBe(false);
  });
});
