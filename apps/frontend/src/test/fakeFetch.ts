import type { FetchLike } from '../api';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

export type Route = (request: RecordedRequest) => Response | Promise<Response>;

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** A fetch stand-in that records every request and answers through `route`. */
export function fakeFetch(route: Route): FetchLike & { requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const impl = async (input: string, init: RequestInit = {}) => {
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const request: RecordedRequest = {
      method: (init.method ?? 'GET').toUpperCase(),
      url: input,
      headers,
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : null,
    };
    requests.push(request);
    return route(request);
  };
  return Object.assign(impl, { requests });
}
