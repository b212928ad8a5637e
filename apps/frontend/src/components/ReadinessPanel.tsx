import { useCallback, useEffect, useRef, useState } from 'react';
import { getReadiness, type Readiness, type RequestOptions } from '../api';

interface ReadinessPanelProps {
  /** How often to ask again; 0 disables polling. */
  pollIntervalMs?: number;
  fetchImpl?: RequestOptions['fetchImpl'];
}

type View = { kind: 'checking' } | Readiness;

function describe(view: View): { label: string; detail: string | null; tone: string } {
  switch (view.kind) {
    case 'checking':
      return { label: 'Checking…', detail: null, tone: 'pending' };
    case 'ready':
      return { label: 'API ready', detail: 'The API and its dependencies answer.', tone: 'ok' };
    case 'not-ready':
      return {
        label: 'API not ready',
        detail: view.failing.length
          ? `Failing: ${view.failing.join(', ')}`
          : 'The API reports a failing dependency.',
        tone: 'bad',
      };
    case 'unreachable':
      return { label: 'API unreachable', detail: view.reason, tone: 'bad' };
  }
}

export function ReadinessPanel({ pollIntervalMs = 15000, fetchImpl }: ReadinessPanelProps) {
  const [view, setView] = useState<View>({ kind: 'checking' });
  const controller = useRef<AbortController | null>(null);

  const check = useCallback(async () => {
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    try {
      const readiness = await getReadiness({ signal: current.signal, fetchImpl });
      if (!current.signal.aborted) setView(readiness);
    } catch {
      // Aborted: a newer check or unmount owns the view now.
    }
  }, [fetchImpl]);

  useEffect(() => {
    void check();
    const timer = pollIntervalMs > 0 ? window.setInterval(() => void check(), pollIntervalMs) : undefined;
    return () => {
      window.clearInterval(timer);
      controller.current?.abort();
    };
  }, [check, pollIntervalMs]);

  const { label, detail, tone } = describe(view);
  return (
    <section className="card" aria-labelledby="readiness-heading">
      <h2 id="readiness-heading">API readiness</h2>
      <div role="status" aria-live="polite" className={`readiness readiness--${tone}`}>
        <p className="readiness__label">{label}</p>
        {detail ? <p className="readiness__detail">{detail}</p> : null}
      </div>
      <button type="button" onClick={() => void check()}>
        Check again
      </button>
    </section>
  );
}
