import { useEffect, useState } from 'react';
import { ApiError, getTask, isFinal, type RequestOptions, type Task } from '../api';

interface TaskStatusProps {
  taskId: string;
  /** First poll delay; doubles up to `maxPollIntervalMs` while the task runs. */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
  fetchImpl?: RequestOptions['fetchImpl'];
}

type View =
  | { kind: 'loading' }
  | { kind: 'task'; task: Task }
  | { kind: 'error'; message: string; task: Task | null };

function formatResult(result: unknown): string {
  if (typeof result === 'string') return result;
  return JSON.stringify(result, null, 2) ?? String(result);
}

export function TaskStatus({ taskId, pollIntervalMs = 500, maxPollIntervalMs = 4000, fetchImpl }: TaskStatusProps) {
  const [view, setView] = useState<View>({ kind: 'loading' });

  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    let delay = pollIntervalMs;
    let last: Task | null = null;

    const poll = async () => {
      try {
        const task = await getTask(taskId, { signal: controller.signal, fetchImpl });
        if (controller.signal.aborted) return;
        last = task;
        setView({ kind: 'task', task });
        if (isFinal(task.state)) return;
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
          // Unknown id, or not an id the API accepts (it wants a UUID): asking again won't help.
          setView({ kind: 'error', message: 'No such task.', task: null });
          return;
        }
        if (error instanceof ApiError && error.status >= 400 && error.status < 500 && ![408, 429].includes(error.status)) {
          setView({ kind: 'error', message: error.message, task: last });
          return;
        }
        // Transient (network, 5xx): keep the last state on screen and keep asking.
        setView({ kind: 'error', message: error instanceof Error ? error.message : String(error), task: last });
      }
      timer = window.setTimeout(() => void poll(), delay);
      delay = Math.min(delay * 2, maxPollIntervalMs);
    };

    setView({ kind: 'loading' });
    void poll();
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [taskId, pollIntervalMs, maxPollIntervalMs, fetchImpl]);

  const task = view.kind === 'loading' ? null : view.task;
  return (
    <section className="card" aria-labelledby="task-heading">
      <h2 id="task-heading">Task {taskId}</h2>
      <div role="status" aria-live="polite">
        {view.kind === 'loading' ? <p>Loading…</p> : null}
        {task ? (
          <dl className="task">
            <dt>State</dt>
            <dd data-state={task.state}>{task.state}</dd>
            {task.state === 'SUCCESS' ? (
              <>
                <dt>Result</dt>
                <dd>
                  <pre className="task__result">{formatResult(task.result)}</pre>
                </dd>
              </>
            ) : null}
          </dl>
        ) : null}
      </div>
      {task && isFinal(task.state) && task.state !== 'SUCCESS' ? (
        <p role="alert" className="error">
          The task ended in {task.state}
          {task.error ? `: ${task.error}` : task.result != null ? `: ${formatResult(task.result)}` : '.'}
        </p>
      ) : null}
      {view.kind === 'error' ? (
        <p role="alert" className="error">
          {view.message}
        </p>
      ) : null}
    </section>
  );
}
