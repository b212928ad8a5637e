"""tests/leak_guard.py catches a test or fixture that leaves a thread, a child process or a listening
port behind, and names it; it lets a wider-scoped fixture keep what it started until it is finalized.

Each case runs a pytest session of its own (a subprocess) on a small test module.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from scripts.synth import REPO_ROOT
from tests import leak_guard

MODULE = '''
import socket, subprocess, sys, threading, time
import pytest

STOP = threading.Event()

def test_leaks_a_thread():
    threading.Thread(target=STOP.wait, name="forgotten-worker", daemon=True).start()

def test_leaks_a_child_process():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

def test_leaks_a_listening_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    test_leaks_a_listening_port.keep = server

def test_cleans_up_after_itself():
    done = threading.Event()
    worker = threading.Thread(target=done.wait, name="joined-worker")
    worker.start()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    done.set()
    worker.join()
    child.wait()

@pytest.fixture(scope="module")
def server_that_stops():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="module-server")
    thread.start()
    yield
    stop.set()
    thread.join()

def test_uses_a_module_fixture(server_that_stops):
    assert any(t.name == "module-server" for t in threading.enumerate())

def test_uses_it_again(server_that_stops):
    assert any(t.name == "module-server" for t in threading.enumerate())
'''

SESSION_FIXTURE = '''
import subprocess, sys
import pytest

@pytest.fixture(scope="session")
def never_stopped():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

def test_first(never_stopped):
    pass

def test_second(never_stopped):
    pass
'''

DAEMONS = '''
import os, pathlib, subprocess, sys, time

# A listener that outlives its parent (reparented, as `pg_ctl start` leaves PostgreSQL), for 8 s.
LISTENER = "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); time.sleep(8)"
SPAWN = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', sys.argv[1]], start_new_session=True)"

def _daemon(env):
    subprocess.run([sys.executable, "-c", SPAWN, LISTENER], env=env, check=True)
    time.sleep(1.5)  # listening by now

def test_a_daemon_of_another_session():
    _daemon({**os.environ, "MBH_TEST_SESSION": "another-session"})

def test_a_daemon_of_its_own():
    _daemon(dict(os.environ))
'''


def run_session(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "test_subject.py"
    module.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.leak_guard", "-p", "no:cacheprovider", "-q", "-rE",
         "--rootdir", str(tmp_path), "-c", "/dev/null", str(module)],
        cwd=tmp_path, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)


def test_each_leak_fails_its_test_by_name_and_clean_tests_pass(tmp_path: Path) -> None:
    run = run_session(tmp_path, MODULE)
    out = run.stdout
    assert run.returncode == 1, out
    assert "6 passed, 3 errors" in out, out
    assert "ERROR test_subject.py::test_leaks_a_thread" in out, out
    assert "test_subject.py::test_leaks_a_thread left behind:" in out, out
    assert "thread 'forgotten-worker' (daemon) running Event.wait" in out, out
    assert "ERROR test_subject.py::test_leaks_a_child_process" in out, out
    assert "time.sleep(60)" in out, out
    assert "ERROR test_subject.py::test_leaks_a_listening_port" in out, out
    assert "listening port 127.0.0.1:" in out, out
    for clean in ("test_cleans_up_after_itself", "test_uses_a_module_fixture", "test_uses_it_again"):
        assert f"ERROR test_subject.py::{clean}" not in out, out


def test_a_wider_fixture_that_never_stops_what_it_started_is_named_when_it_ends(tmp_path: Path) -> None:
    run = run_session(tmp_path, SESSION_FIXTURE)
    out = run.stdout
    assert run.returncode == 1, out
    assert "2 passed, 1 error" in out, out
    # Reported at the teardown of the last test, where the session fixture ends; the test itself is clean.
    assert "ERROR test_subject.py::test_second" in out, out
    assert "fixture 'never_stopped' (session scope) left behind when finalized:" in out, out
    assert "time.sleep(60)" in out, out


def test_a_daemon_of_another_test_session_is_not_this_ones(tmp_path: Path) -> None:
    """Two pytest runs side by side (a helper's unit run beside CI): each answers for its own daemons."""
    run = run_session(tmp_path, DAEMONS)
    out = run.stdout
    assert run.returncode == 1, out
    assert "2 passed, 1 error" in out, out  # the error is the second test's teardown
    assert "ERROR test_subject.py::test_a_daemon_of_its_own" in out, out
    assert "listening port 127.0.0.1:" in out, out
    assert "test_a_daemon_of_another_session" not in out.split("short test summary")[-1], out


# Sleeps, then becomes another program; the program it becomes is not spelled in its own command line.
EXEC_LATER = ("import os, sys, time; time.sleep(1); "
              "os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(6' + '0)'])")


def test_a_leak_is_described_as_it_is_when_reported_not_as_first_seen() -> None:
    """A child caught between fork and exec shows its parent's command line; the report names the
    program it became (CI once reported a leaked `time.sleep(60)` child by the pytest command line)."""
    child = subprocess.Popen([sys.executable, "-c", EXEC_LATER])
    try:
        first = {key: what for key, what in leak_guard.snapshot().things.items()
                 if key[0] == "process" and key[1] == child.pid}
        assert len(first) == 1 and "time.sleep(60)" not in next(iter(first.values())), first
        left = leak_guard.still_there(first, grace=4.0)
        assert list(left) == list(first), left
        assert f"process {child.pid} " in left[next(iter(first))], left
        assert "time.sleep(60)" in left[next(iter(first))], left
    finally:
        child.kill()
        child.wait()


DAEMON = """
import os, socket, sys, time
if os.fork():
    sys.exit(0)          # the daemon is nobody's child (as after `pg_ctl start`)
os.setsid()
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
print(server.getsockname()[1], os.getpid(), flush=True)
time.sleep(30)
"""


def _daemon(*marks: str) -> int:
    """A daemonized listener with an environment that names no session (PostgreSQL's postmaster writes
    its process title over its own), and `marks` on its command line; its pid."""
    proc = subprocess.Popen([sys.executable, "-c", DAEMON, *marks], env={"PATH": "/usr/bin:/bin"},
                            stdout=subprocess.PIPE, text=True)
    _, pid = proc.stdout.readline().split()
    proc.wait(timeout=10)
    return int(pid)


def test_a_daemon_marked_on_its_command_line_by_another_session_is_not_this_ones():
    import os
    import signal

    import psutil

    pids = {"other": _daemon("-c", "cluster_name=mbh-session:another-session"),
            "this": _daemon("-c", f"cluster_name={leak_guard.cmdline_mark()}"),
            "unmarked": _daemon()}
    try:
        owned = {name: leak_guard._of_this_session(psutil.Process(pid)) for name, pid in pids.items()}
    finally:
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
    assert owned == {"other": False, "this": True, "unmarked": True}
