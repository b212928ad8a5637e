import type { RequestOptions } from './api';
import { Link } from './components/Link';
import { ReadinessPanel } from './components/ReadinessPanel';
import { TaskLauncher } from './components/TaskLauncher';
import { TaskStatus } from './components/TaskStatus';
import { matchTaskPath, navigate, taskPath, usePathname } from './router';

interface AppProps {
  fetchImpl?: RequestOptions['fetchImpl'];
  readinessPollMs?: number;
  taskPollMs?: number;
}

export function App({ fetchImpl, readinessPollMs, taskPollMs }: AppProps) {
  const pathname = usePathname();
  const taskId = matchTaskPath(pathname);
  const known = pathname === '/' || taskId !== null;

  return (
    <>
      <header className="site-header">
        <h1>
          <Link href="/">MBHealth</Link>
        </h1>
      </header>
      <main>
        <ReadinessPanel pollIntervalMs={readinessPollMs} fetchImpl={fetchImpl} />
        <TaskLauncher fetchImpl={fetchImpl} onStarted={(task) => navigate(taskPath(task.id))} />
        {taskId !== null ? (
          <TaskStatus key={taskId} taskId={taskId} pollIntervalMs={taskPollMs} fetchImpl={fetchImpl} />
        ) : null}
        {!known ? (
          <section className="card" aria-labelledby="notfound-heading">
            <h2 id="notfound-heading">Page not found</h2>
            <p>
              Nothing lives at <code>{pathname}</code>. <Link href="/">Go to the start page</Link>.
            </p>
          </section>
        ) : null}
      </main>
    </>
  );
}
