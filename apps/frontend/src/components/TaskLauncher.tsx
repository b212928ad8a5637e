import { useState, type FormEvent } from 'react';
import { startTask, type RequestOptions, type Task } from '../api';

export const MIN_N = 1;
export const MAX_N = 1000;

interface TaskLauncherProps {
  onStarted: (task: Task) => void;
  fetchImpl?: RequestOptions['fetchImpl'];
}

export function TaskLauncher({ onStarted, fetchImpl }: TaskLauncherProps) {
  const [value, setValue] = useState('10');
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [invalid, setInvalid] = useState(false);

  const handleSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const n = Number(value);
    if (!Number.isInteger(n) || n < MIN_N || n > MAX_N) {
      setError(`Enter a whole number from ${MIN_N} to ${MAX_N}.`);
      setInvalid(true);
      return;
    }
    setError(null);
    setInvalid(false);
    setSubmitting(true);
    try {
      onStarted(await startTask(n, { fetchImpl }));
    } catch (caught) {
      setError(`Could not start the task: ${caught instanceof Error ? caught.message : String(caught)}`);
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <section className="card" aria-labelledby="launcher-heading">
      <h2 id="launcher-heading">Start a task</h2>
      <form onSubmit={(event) => void handleSubmit(event)} noValidate>
        <label htmlFor="task-n">Input n</label>
        <input
          id="task-n"
          name="n"
          type="number"
          inputMode="numeric"
          min={MIN_N}
          max={MAX_N}
          step={1}
          required
          value={value}
          aria-describedby="task-n-hint"
          aria-invalid={invalid}
          onChange={(event) => setValue(event.target.value)}
        />
        <p id="task-n-hint" className="hint">
          A background worker computes the result for n ({MIN_N}–{MAX_N}).
        </p>
        <button type="submit" disabled={submitting}>
          {submitting ? 'Starting…' : 'Start task'}
        </button>
      </form>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
    </section>
  );
}
