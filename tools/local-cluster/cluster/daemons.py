"""Commands and long-running processes of the node: run one, start a daemon (in the node's
network namespace or the host's), find it again by its pidfile, stop it.

A daemon is started with `setsid` semantics (a session of its own, nobody's child once this
command exits), its output in `<state>/node/logs/<name>.log`, its pid in
`/run/mbhealth-node/node<slot>/pids/<name>.pid` together with its start time, so a recycled pid
is never taken for it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from layout import RUN_ROOT, Layout


class NodeError(SystemExit):
    """One line for the user, naming what is wrong and what to do; exit status 1."""

    def __init__(self, message: str):
        super().__init__(f"node: {message}")


def say(message: str) -> None:
    print(f"node: {message}", file=sys.stderr, flush=True)


def run(args: Sequence[str], *, netns: str | None = None, check: bool = True, input: str | None = None,
        env: Mapping[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (in the node's network namespace when `netns` is given)."""
    argv = [*(_enter(netns)), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise NodeError(f"`{' '.join(args)}` failed ({proc.returncode}): {detail[-1] if detail else 'no output'}")
    return proc


def _enter(netns: str | None) -> list[str]:
    # nsenter joins only the network namespace: the node's processes share the host's mounts, so
    # what the kubelet mounts for a pod is what containerd hands to runc (`ip netns exec` would
    # give each process a mount namespace of its own).
    return ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []


@contextmanager
def machine_lock() -> Iterator[None]:
    """One node command at a time on this machine changes what nodes share (slots, guards, sysctls)."""
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    with open(RUN_ROOT / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_of(layout: Layout, name: str) -> int | None:
    """The daemon's pid while it runs (the pid is alive and started when ours did)."""
    pidfile = layout.pids / f"{name}.pid"
    try:
        pid_text, started = pidfile.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if _start_time(pid) != started:
        return None
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except OSError:
        return None
    return pid


def start(layout: Layout, name: str, args: Sequence[str], *, netns: bool = True,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start `args` as the daemon `name` unless it runs already; its pid."""
    running = pid_of(layout, name)
    if running:
        return running
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    log = open(layout.logs / f"{name}.log", "ab")
    log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(args)}\n".encode())
    log.flush()
    proc = subprocess.Popen([*(_enter(layout.netns) if netns else []), *args], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd,
                            env={**os.environ, **(env or {})})
    log.close()
    started = None
    for _ in range(50):
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.01)
    (layout.pids / f"{name}.pid").write_text(f"{proc.pid} {started}\n")
    return proc.pid


def stop(layout: Layout, name: str, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after `timeout`; the pidfile goes either way."""
    pid = pid_of(layout, name)
    if pid:
        terminate([pid], timeout)
    (layout.pids / f"{name}.pid").unlink(missing_ok=True)


def terminate(pids: Sequence[int], timeout: float = 15) -> None:
    alive = list(pids)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.05)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # ours: reap it
        except ChildProcessError:
            pass
        return False
    return True


def processes_with(fragment: str) -> list[int]:
    """Pids whose command line contains `fragment` (a path only this node uses)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmdline:
            found.append(int(proc.name))
    return found


def wait_for(what: str, check, timeout: float, log: Path | None = None, interval: float = 0.2) -> None:
    """Poll `check()` until it is true; on timeout a NodeError naming `what` and the log's last line."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            hint = ""
            if log and log.is_file():
                lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
                hint = f"; last line of {log}: {lines[-1][:300]}" if lines else f"; {log} is empty"
            raise NodeError(f"{what} within {timeout:.0f}s{hint}")
        time.sleep(interval)
