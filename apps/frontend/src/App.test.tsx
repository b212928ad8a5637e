import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from './App';
import { fakeFetch, json, type RecordedRequest } from './test/fakeFetch';

/** A small in-memory API: readiness, and tasks that succeed on their second poll. */
function fakeApi() {
  const polls = new Map<string, number>();
  return fakeFetch((request: RecordedRequest) => {
    if (request.url === '/api/v1/health/ready') return json(200, { status: 'ready' });
    if (request.url === '/api/v1/tasks' && request.method === 'POST') {
      const { n } = request.body as { n: number };
      const id = `task-${n}`;
      polls.set(id, 0);
      return json(202, { id, state: 'PENDING' });
    }
    const match = /^\/api\/v1\/tasks\/(.+)$/.exec(request.url);
    if (match?.[1] && polls.has(match[1])) {
      const id = match[1];
      const count = (polls.get(id) ?? 0) + 1;
      polls.set(id, count);
      return json(200, { id, state: count >= 2 ? 'SUCCESS' : 'STARTED', result: count >= 2 ? 55 : null });
    }
    return json(404, { detail: 'not found' });
  });
}

describe('App', () => {
  it('starts a task, moves to its deep link and shows the result', async () => {
    const fetchImpl = fakeApi();
    render(<App fetchImpl={fetchImpl} readinessPollMs={0} taskPollMs={5} />);

    expect(await screen.findByText('API ready')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Start task' }));

    const task = await screen.findByRole('region', { name: 'Task task-10' });
    expect(window.location.pathname).toBe('/tasks/task-10');
    expect(await within(task).findByText('SUCCESS')).toBeInTheDocument();
    expect(within(task).getByText('55')).toBeInTheDocument();
  });

  it('opens a task from a deep link', async () => {
    window.history.replaceState(null, '', '/tasks/unknown-1');
    render(<App fetchImpl={fakeApi()} readinessPollMs={0} taskPollMs={5} />);
    const task = await screen.findByRole('region', { name: 'Task unknown-1' });
    expect(await within(task).findByRole('alert')).toHaveTextContent('No such task.');
  });

  it('shows not-found for an unknown path and links home', async () => {
    window.history.replaceState(null, '', '/nowhere');
    render(<App fetchImpl={fakeApi()} readinessPollMs={0} />);
    expect(screen.getByRole('heading', { name: 'Page not found' })).toBeInTheDocument();

    await userEvent.click(screen.getByRole('link', { name: 'Go to the start page' }));
    expect(window.location.pathname).toBe('/');
    expect(screen.queryByRole('heading', { name: 'Page not found' })).toBeNull();
  });

  it('follows browser back to the previous view', async () => {
    render(<App fetchImpl={fakeApi()} readinessPollMs={0} taskPollMs={5} />);
    await userEvent.click(screen.getByRole('button', { name: 'Start task' }));
    await screen.findByRole('region', { name: 'Task task-10' });

    window.history.back();
    await expect.poll(() => window.location.pathname).toBe('/');
    await expect.poll(() => screen.queryByRole('region', { name: 'Task task-10' })).toBeNull();
  });
});
