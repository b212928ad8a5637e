import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { fakeFetch, json } from '../test/fakeFetch';
import { ReadinessPanel } from './ReadinessPanel';

describe('ReadinessPanel', () => {
  it('shows the API as ready', async () => {
    render(<ReadinessPanel pollIntervalMs={0} fetchImpl={fakeFetch(() => json(200, { status: 'ready' }))} />);
    expect(screen.getByRole('status')).toHaveTextContent('Checking…');
    expect(await screen.findByText('API ready')).toBeInTheDocument();
  });

  it('names the failing dependency and re-checks on demand', async () => {
    const answers = [
      json(503, { status: 'not_ready', checks: { database: 'ok', redis: 'error' } }),
      json(200, { status: 'ready' }),
    ];
    const fetchImpl = fakeFetch(() => answers.shift() ?? json(500, {}));
    render(<ReadinessPanel pollIntervalMs={0} fetchImpl={fetchImpl} />);

    expect(await screen.findByText('API not ready')).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Failing: redis');

    await userEvent.click(screen.getByRole('button', { name: 'Check again' }));
    expect(await screen.findByText('API ready')).toBeInTheDocument();
    expect(fetchImpl.requests).toHaveLength(2);
  });

  it('polls on its interval', async () => {
    const fetchImpl = fakeFetch(() => json(200, {}));
    render(<ReadinessPanel pollIntervalMs={20} fetchImpl={fetchImpl} />);
    await screen.findByText('API ready');
    await expect.poll(() => fetchImpl.requests.length, { timeout: 2000 }).toBeGreaterThanOrEqual(3);
  });

  it('says unreachable when the proxy cannot reach the API', async () => {
    render(<ReadinessPanel pollIntervalMs={0} fetchImpl={fakeFetch(() => new Response('', { status: 502 }))} />);
    expect(await screen.findByText('API unreachable')).toBeInTheDocument();
    expect(screen.getByText('HTTP 502')).toBeInTheDocument();
  });
});
