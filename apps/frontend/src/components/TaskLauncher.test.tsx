import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { fakeFetch, json } from '../test/fakeFetch';
import { TaskLauncher } from './TaskLauncher';

describe('TaskLauncher', () => {
  it('starts a task with the entered n and hands the task over', async () => {
    const fetchImpl = fakeFetch(() =>
      json(202, { task_id: 't-1', state: 'PENDING', status_url: '/api/v1/tasks/t-1' }),
    );
    const onStarted = vi.fn();
    render(<TaskLauncher onStarted={onStarted} fetchImpl={fetchImpl} />);

    const input = screen.getByLabelText('Input n');
    await userEvent.clear(input);
    await userEvent.type(input, '12');
    await userEvent.click(screen.getByRole('button', { name: 'Start task' }));

    await vi.waitFor(() => expect(onStarted).toHaveBeenCalledWith({ id: 't-1', state: 'PENDING', result: null, error: null }));
    expect(fetchImpl.requests).toEqual([expect.objectContaining({ method: 'POST', body: { n: 12 } })]);
  });

  it('refuses an out-of-range n without calling the API', async () => {
    const fetchImpl = fakeFetch(() => json(202, { id: 'never' }));
    render(<TaskLauncher onStarted={vi.fn()} fetchImpl={fetchImpl} />);

    const input = screen.getByLabelText('Input n');
    await userEvent.clear(input);
    await userEvent.type(input, '0');
    await userEvent.click(screen.getByRole('button', { name: 'Start task' }));

    expect(screen.getByRole('alert')).toHaveTextContent('Enter a whole number from 1 to 1000.');
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(fetchImpl.requests).toHaveLength(0);
  });

  it('disables the button while starting and shows an API error', async () => {
    let answer: (response: Response) => void = () => {};
    const fetchImpl = fakeFetch(() => new Promise<Response>((resolve) => (answer = resolve)));
    render(<TaskLauncher onStarted={vi.fn()} fetchImpl={fetchImpl} />);

    await userEvent.click(screen.getByRole('button', { name: 'Start task' }));
    expect(screen.getByRole('button', { name: 'Starting…' })).toBeDisabled();

    answer(json(503, { detail: 'Broker unavailable' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not start the task: Broker unavailable');
    expect(screen.getByRole('button', { name: 'Start task' })).toBeEnabled();
    // The input was fine: a server error does not mark it invalid.
    expect(screen.getByLabelText('Input n')).toHaveAttribute('aria-invalid', 'false');
  });
});
