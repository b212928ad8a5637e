"""A pytest plugin (pytest.ini: `-p tests.leak_guard`): a test or fixture that leaves a thread, a
child process or a listening TCP port behind fails the suite, named.

Why: whatever a test leaves running keeps running beside every later test. One such thread, a
server formatting a traceback, made a later `ast.parse` fail with CPython 3.11's "AST constructor
recursion depth mismatch" (python/cpython#106905: the AST converter's recursion counter is per
interpreter, and Python 3.11's traceback module parses source to place its `^^^` markers).

What is checked, around every test (setup, call and teardown):
- threads of this process (daemon or not) that did not exist before;
- child processes of this process (any depth) that did not exist before, zombies included;
- TCP ports in LISTEN state owned by this session's processes: its children, or a daemon started
  since the session began and what descends from it (a daemonized server such as `pg_ctl start`'s
  PostgreSQL, or a container's shim, is nobody's child any more); programs that ran before the
  session (a build in another shell, the Docker engine CI starts first) are not the suite's, nor
  is a daemon that carries another session's `MBH_TEST_SESSION` (a second pytest run beside this
  one: every process this session starts inherits its mark unless it is given a fresh environment).
What a fixture of wider scope (module, session, ...) starts in its setup belongs to it: it may live
on until that fixture is finalized, and must be gone then; the test in whose teardown the
fixture ends reports it. Something that ends a moment late (a thread joining, a process being
reaped) is given `GRACE_SECONDS` before it counts.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterator

import psutil
import pytest

GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    """What runs now: each thing by a stable key, with a description for the message."""

    things: dict[tuple, str] = field(default_factory=dict)

    def new_since(self, before: "Snapshot") -> dict[tuple, str]:
        return {key: what for key, what in self.things.items() if key not in before.things}


def _threads() -> dict[tuple, str]:
    main = threading.main_thread()
    return {("thread", t.ident, t.name): f"thread {t.name!r}{' (daemon)' if t.daemon else ''} running {_target(t)}"
            for t in threading.enumerate() if t is not main and t.is_alive()}


def _target(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    if target is None:
        return type(thread).__qualname__ + ".run"
    return getattr(target, "__qualname__", repr(target))


def _processes() -> dict[tuple, str]:
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            found[("process", child.pid, child.create_time())] = (
                f"process {child.pid} ({child.status()}): {' '.join(child.cmdline())[:200] or child.name()}")
        except psutil.NoSuchProcess:
            continue
    return found


def _listening() -> dict[tuple, str]:
    found = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.pid:
            continue
        try:
            owner = psutil.Process(conn.pid)
            if not _of_this_session(owner):
                continue
            what = " ".join(owner.cmdline())[:200] or owner.name()
        except psutil.NoSuchProcess:
            continue
        found[("port", conn.laddr.ip, conn.laddr.port)] = (
            f"listening port {conn.laddr.ip}:{conn.laddr.port} by process {conn.pid}: {what}")
    return found


_ME = psutil.Process()
SESSION_MARK = "MBH_TEST_SESSION"
# Inherited by what this session starts (an inner pytest run of this session keeps the outer mark).
_MARK = os.environ.setdefault(SESSION_MARK, f"{_ME.pid}-{uuid.uuid4().hex[:12]}")


# A daemon that writes its process title over its environment (PostgreSQL's postmaster does: another
# session's looked like this one's) carries the mark on its command line: `mbh-session:<mark>`.
CMDLINE_MARK = "mbh-session:"


def cmdline_mark() -> str:
    """This session's mark as a daemon's command line carries it (tests/support/services.py)."""
    return CMDLINE_MARK + _MARK


def _mark_of(process: psutil.Process) -> str | None:
    try:
        mark = process.environ().get(SESSION_MARK)
        if mark is None:
            for arg in process.cmdline():
                if CMDLINE_MARK in arg:
                    return arg.split(CMDLINE_MARK, 1)[1].split()[0]
    except (psutil.AccessDenied, psutil.ZombieProcess, psutil.NoSuchProcess):
        return None
    return mark


def _marked_by_another_session(process: psutil.Process) -> bool:
    mark = _mark_of(process)
    return mark is not None and mark != _MARK


def _of_this_session(process: psutil.Process) -> bool:
    """Started by this test session: a descendant of this process, or of a daemon started since it
    began (PostgreSQL after `pg_ctl start`, a container's shim), not a program that ran before."""
    chain = [process, *process.parents()]
    if any(p.pid == _ME.pid for p in chain):
        return True
    top = chain[-2] if len(chain) > 1 and chain[-1].pid == 1 else chain[-1]
    return top.create_time() >= _ME.create_time() and not _marked_by_another_session(top)


def snapshot() -> Snapshot:
    return Snapshot({**_threads(), **_processes(), **_listening()})


def still_there(keys: dict[tuple, str], grace: float = GRACE_SECONDS) -> dict[tuple, str]:
    """Those of `keys` still present after up to `grace` seconds, described as they are now: a child
    caught between fork and exec still shows its parent's command line in the first snapshot."""
    deadline = time.monotonic() + grace
    while True:
        now = snapshot().things
        left = {key: now[key] for key in keys if key in now}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


class LeakGuard:
    def __init__(self) -> None:
        self.owned: dict[int, tuple[str, dict[tuple, str]]] = {}  # id(fixturedef) -> (its name, what it started)
        self.problems: list[str] = []  # found while fixtures were finalized, reported by the teardown

    def allowed(self) -> set[tuple]:
        return {key for _, things in self.owned.values() for key in things}

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[None]:
        if fixturedef.scope == "function":
            return (yield)
        before = snapshot()
        try:
            return (yield)
        finally:
            started = snapshot().new_since(before)
            if started:
                name = f"fixture {fixturedef.argname!r} ({fixturedef.scope} scope)"
                previous = self.owned.get(id(fixturedef), (name, {}))[1]
                self.owned[id(fixturedef)] = (name, {**previous, **started})

    @pytest.hookimpl(trylast=True)
    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef, request: pytest.SubRequest) -> None:
        name, things = self.owned.pop(id(fixturedef), ("", {}))
        if things:
            left = still_there(things)
            if left:
                self.problems.append(f"{name} left behind when finalized:\n    " + "\n    ".join(left.values()))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        item.stash[_BEFORE] = snapshot()
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        try:
            return (yield)
        finally:
            before = item.stash.get(_BEFORE, None)
            if before is not None:
                allowed = self.allowed()
                new = {key: what for key, what in snapshot().new_since(before).items() if key not in allowed}
                left = still_there(new) if new else {}
                # Started by a fixture whose setup began after this test's snapshot: not the test's.
                left = {key: what for key, what in left.items() if key not in self.allowed()}
                if left:
                    self.problems.append(f"{item.nodeid} left behind:\n    " + "\n    ".join(left.values()))
            problems, self.problems = self.problems, []
            if problems:
                pytest.fail("\n".join(problems), pytrace=False)


_BEFORE = pytest.StashKey[Snapshot]()


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(LeakGuard(), "mbhealth-leak-guard")
