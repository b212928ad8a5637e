"""`make test`: the e2e suite and every other suite as two pytest sessions side by side.

Why: on this machine's two cores the e2e suite (tests/e2e: the real node, the real engine) spends
most of its time waiting for pods, probes and rollouts, while the other suites (mocks, the apps
against real PostgreSQL/Redis/nginx/Chromium, image builds, the policy pack) are mostly CPU: side
by side, the wall time is the longer session's plus what each slows the other (README, CI figures).
Two sessions rather than pytest-xdist workers: the e2e suite's session fixtures (a cluster, a
deployed stack) are one per session, and each session's leak guard (tests/leak_guard.py) tells its
own processes from the other's by the session mark each inherits.

Arguments are passed to both sessions. Each output line is prefixed with its session's name; the
exit code is 0 only when both pass (else the first failing session's; one that selects nothing counts
as passing). Ctrl-C (or SIGTERM) reaches both as SIGINT, so their fixtures
are finalized (the cluster stopped). `make test-serial` runs one session instead (for a chosen
order: PYTEST_ADDOPTS with paths would otherwise be run by both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SESSION_MARK = "MBH_TEST_SESSION"  # tests/leak_guard.py
NO_TESTS = 5  # pytest.ExitCode.NO_TESTS_COLLECTED

# e2e modules that start a cluster of their own and use none of the e2e session's shared ones: they
# run in the other session, once its own suites are done, beside the e2e session's cluster.
OWN_CLUSTER = ["tests/e2e/test_make_up.py"]


def default_sessions() -> dict[str, list[str]]:
    """name -> pytest arguments: tests/e2e, and every other suite under tests/ (found, not listed).
    `-v`: one line per test as it ends (the relay is by line; a line of progress dots ends with its file)."""
    suites = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "tests").iterdir()
                    if p.is_dir() and p.name != "e2e" and any(p.rglob("test_*.py")))
    return {
        "e2e": ["-v", "tests/e2e", *(f"--ignore={path}" for path in OWN_CLUSTER)],
        "suites": ["-v", *suites, *OWN_CLUSTER],
    }


@dataclass
class Session:
    name: str
    args: list[str]
    width: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    last_lines: list[str] = field(default_factory=list)

    def start(self, extra: list[str]) -> None:
        # A mark of its own (tests/leak_guard.py), also under an outer session, whose guard then
        # leaves these two sessions' processes to their own guards.
        mark = f"{os.environ.get(SESSION_MARK) or os.getpid()}-{self.name}"
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{SESSION_MARK: mark})
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", *self.args, *extra], cwd=REPO_ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", bufsize=1)

    def relay(self, lock: threading.Lock) -> None:
        """Print each line with the session's name in front; keep the last ones for the summary."""
        assert self.process and self.process.stdout
        prefix = f"{self.name:>{self.width}} | "
        for line in self.process.stdout:
            with lock:
                sys.stdout.write(prefix + line)
                sys.stdout.flush()
            self.last_lines = (self.last_lines + [line.rstrip("\n")])[-5:]
        self.process.wait()
        self.seconds = time.monotonic() - self.started

    def outcome(self) -> str:
        """pytest's closing line (`=== 3 passed in 1.2s ===`), or the last line it printed."""
        for line in reversed(self.last_lines):
            if line.startswith("=") and (" in " in line):
                return line.strip("= ")
        return self.last_lines[-1] if self.last_lines else "(no output)"


def run(extra: list[str], chosen: dict[str, list[str]] | None = None) -> int:
    chosen = chosen or default_sessions()
    width = max(map(len, chosen))
    sessions = [Session(name, args, width) for name, args in chosen.items()]
    lock = threading.Lock()
    started = time.monotonic()
    interrupted: list[int] = []

    def forward(signum: int, frame: object) -> None:
        interrupted.append(signum)
        for session in sessions:
            if session.process and session.process.poll() is None:
                session.process.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for session in sessions:
            session.start(extra)
        relays = [threading.Thread(target=s.relay, args=(lock,), name=f"relay-{s.name}") for s in sessions]
        for relay in relays:
            relay.start()
        for relay in relays:
            relay.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"test sessions side by side, {time.monotonic() - started:.0f}s in all:")
    for session in sessions:
        code = session.process.returncode if session.process else None
        print(f"  {session.name:>{width}}: exit {code} after {session.seconds:.0f}s: {session.outcome()}")
    codes = [s.process.returncode if s.process else 1 for s in sessions]
    # pytest's 5: nothing collected (extra arguments that select tests of one session only).
    failed = [code for code in codes if code not in (0, NO_TESTS)]
    if interrupted and not failed:
        return 128 + interrupted[0]
    if failed:
        return failed[0]
    return NO_TESTS if all(code == NO_TESTS for code in codes) else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
