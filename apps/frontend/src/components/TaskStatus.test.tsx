import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { fakeFetch, json } from '../test/fakeFetch';
import { TaskStatus } from './TaskStatus';

describe('TaskStatus', () => {
  it('polls until the task succeeds, then shows its result and stops', async () => {
    const states = ['PENDING', 'STARTED', 'SUCCESS'];
    const fetchImpl = fakeFetch(() => {
      const state = states.shift() ?? 'SUCCESS';
      return json(200, { id: 'job-9', state, result: state === 'SUCCESS' ? { n: 10, value: 55 } : null });
    });
    const { container } = render(<TaskStatus taskId="job-9" pollIntervalMs={5} fetchImpl={fetchImpl} />);

    expect(await screen.findByText('SUCCESS')).toBeInTheDocument();
    expect(container.querySelector('.task__result')?.textContent).toBe(
      JSON.stringify({ n: 10, value: 55 }, null, 2),
    );
    const seen = fetchImpl.requests.length;
    expect(seen).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetchImpl.requests).toHaveLength(seen);
    expect(fetchImpl.requests[0]?.url).toBe('/api/v1/tasks/job-9');
  });

  it('alerts when the task fails', async () => {
    const fetchImpl = fakeFetch(() => json(200, { id: 'j', state: 'FAILURE', result: 'ValueError: n too big' }));
    render(<TaskStatus taskId="j" pollIntervalMs={5} fetchImpl={fetchImpl} />);
    expect(await screen.findByRole('alert')).toHaveTextContent('The task ended in FAILURE: ValueError: n too big');
  });

  it("shows the API's error name for a failed task", async () => {
    const fetchImpl = fakeFetch(() => json(200, { task_id: 'j', state: 'FAILURE', result: null, error: 'ZeroDivisionError' }));
    render(<TaskStatus taskId="j" pollIntervalMs={5} fetchImpl={fetchImpl} />);
    expect(await screen.findByRole('alert')).toHaveTextContent('The task ended in FAILURE: ZeroDivisionError');
  });

  it('stops asking when the API rejects the id', async () => {
    const fetchImpl = fakeFetch(() => json(422, { detail: [{ msg: 'Input should be a valid UUID' }] }));
    render(<TaskStatus taskId="not-a-uuid" pollIntervalMs={5} fetchImpl={fetchImpl} />);
    expect(await screen.findByRole('alert')).toHaveTextContent('No such task.');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetchImpl.requests).toHaveLength(1);
  });

  it('says so for an unknown task', async () => {
    const fetchImpl = fakeFetch(() => json(404, { detail: 'not found' }));
    render(<TaskStatus taskId="gone" pollIntervalMs={5} fetchImpl={fetchImpl} />);
    expect(await screen.findByRole('alert')).toHaveTextContent('No such task.');
  });

  it('keeps polling through a transient error', async () => {
    const answers = [json(502, {}), json(200, { id: 'k', state: 'SUCCESS', result: 3 })];
    const fetchImpl = fakeFetch(() => answers.shift() ?? json(200, { id: 'k', state: 'SUCCESS', result: 3 }));
    render(<TaskStatus taskId="k" pollIntervalMs={5} fetchImpl={fetchImpl} />);
    expect(await screen.findByText('SUCCESS')).toBeInTheDocument();
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
