"""Real PostgreSQL and Redis servers for tests, on loopback, on free ports, in temp dirs.

Usable three ways:

* classes: ``PostgresServer(...).start()`` / ``.stop()`` / ``.restart()``, same for
  ``RedisServer`` (stop and start again on the same port for fault tests);
* context managers: ``with postgres_server() as pg, redis_server(password="pw") as r: ...``;
* pytest fixtures: import them into a conftest.py
  (``pg_server = services.pg_server`` and so on; see tests/apps/backend/conftest.py).

When a binary is missing the fixtures skip with a one-line reason; with
``MBH_REQUIRE_SERVICES=1`` (CI) they fail instead. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.leak_guard import cmdline_mark

LOOPBACK = "127.0.0.1"
REQUIRE_ENV = "MBH_REQUIRE_SERVICES"


class ServiceUnavailable(RuntimeError):
    """A service's binaries are missing (skip) or it failed to start (error)."""


# --- small helpers -------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def free_port_block(count: int) -> int:
    """The first of `count` consecutive loopback ports nothing listens on right now (the local
    cluster takes its API port and the next three: ingress ping, etcd, etcd peers)."""
    for _ in range(100):
        base = free_port()
        if base + count > 65535:
            continue
        taken = False
        for port in range(base + 1, base + count):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return base
    raise RuntimeError(f"no {count} consecutive free ports on {LOOPBACK}")


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.05)


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test (missing binaries), or fail it when MBH_REQUIRE_SERVICES=1."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def silent_tcp_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a hung dependency."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- PostgreSQL ----------------------------------------------------------------------


def find_postgres_bin() -> Path | None:
    """Directory holding initdb/pg_ctl/postgres: PATH first, then Debian's versioned dirs."""
    initdb = shutil.which("initdb")
    if initdb:
        real = Path(initdb).resolve().parent
        if (real / "pg_ctl").exists() and (real / "postgres").exists():
            return real
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0]), reverse=True
    )
    for candidate in candidates:
        path = Path(candidate)
        if all((path / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster: password (scram) auth over TCP on 127.0.0.1 only.

    As root the cluster runs as the `postgres` system user (PostgreSQL refuses root).
    ``create_database()`` makes a database owned by a role with a password and returns
    its URL, so every test suite gets its own database and credentials.
    """

    SUPERUSER = "postgres"

    def __init__(self, port: int | None = None, bin_dir: Path | None = None, host: str = LOOPBACK,
                 clients: tuple[str, ...] = ()) -> None:
        """host: the address it listens on besides 127.0.0.1 and its URLs name (the local cluster's
        end of its node's link, for pods); clients: the networks besides loopback that may log in."""
        self.host, self.clients = host, clients
        self.bin_dir = bin_dir or find_postgres_bin()
        if self.bin_dir is None:
            raise ServiceUnavailable("PostgreSQL binaries not found (Debian package postgresql)")
        self.port = port or free_port()
        self.superuser_password = secrets.token_urlsafe(16)
        self.base_dir: Path | None = None
        self._owner: pwd.struct_passwd | None = None
        self._started = False

    # Paths and process helpers
    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._owner is not None:
            kwargs = {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "HOME": str(self.base_dir)}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.base_dir,
            timeout=timeout,
            **kwargs,
        )

    def start(self) -> PostgresServer:
        if self.base_dir is None:
            self._init_cluster()
        try:
            self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                # The session's mark (tests/leak_guard.py): the postmaster's title hides its environment.
                "-o", f"-p {self.port} -c cluster_name={cmdline_mark()}",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            detail = f"{exc.stderr.strip()}\n{_tail(self.log_file)}"
            raise ServiceUnavailable(f"PostgreSQL did not start: {detail}") from None
        self._started = True
        wait_for_port(self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        if self._started:
            self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", str(self.data_dir), check=False)
            self._started = False

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._started

    def cleanup(self) -> None:
        self.stop("immediate")
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def _init_cluster(self) -> None:
        # Under /tmp directly: the postgres user must traverse the path, which pytest's
        # per-user 0700 temp dirs do not allow.
        self.base_dir = Path(tempfile.mkdtemp(prefix="mbh-pg-"))
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                self._owner = pwd.getpwnam("nobody")
            os.chown(self.base_dir, self._owner.pw_uid, self._owner.pw_gid)
        os.chmod(self.base_dir, 0o700)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        if self._owner is not None:
            os.chown(pwfile, self._owner.pw_uid, self._owner.pw_gid)
        try:
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", self.SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                "--no-sync",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise ServiceUnavailable(f"initdb failed: {exc.stderr.strip()}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                "\n# tests: loopback (and the host's end of a local cluster's link), no unix socket, disposable\n"
                f"listen_addresses = '{','.join(dict.fromkeys((LOOPBACK, self.host)))}'\n"
                "unix_socket_directories = ''\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 100\nshared_buffers = 32MB\n"
                "logging_collector = off\n"
            )
        with (self.data_dir / "pg_hba.conf").open("a") as fh:
            # the host itself reaches `host` from `host` (execute(), create_database() use url())
            own = (f"{self.host}/32",) if self.host != LOOPBACK else ()
            for network in dict.fromkeys((*own, *self.clients)):
                fh.write(f"host all all {network} scram-sha-256\n")

    # Databases and URLs
    def url(self, database: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        user = user or self.SUPERUSER
        password = self.superuser_password if password is None else password
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run SQL as the superuser (autocommit) and return the rows, if any."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str | None = None, password: str | None = None) -> str:
        """A new database owned by a new role of the same name; returns its URL."""
        name = name or f"db_{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(16)
        self.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        self.execute(f"CREATE DATABASE {name} OWNER {name}")
        return self.url(name, user=name, password=password)

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.execute(f"DROP ROLE IF EXISTS {name}")


@contextlib.contextmanager
def postgres_server(**kwargs: object) -> Iterator[PostgresServer]:
    server = PostgresServer(**kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.cleanup()


# --- Redis ---------------------------------------------------------------------------


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)), None
    )


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 (optionally with a password), no persistence.

    ``stop()`` then ``start()`` brings it back on the same port (fault tests).
    """

    def __init__(self, port: int | None = None, password: str | None = None, binary: str | None = None,
                 host: str = LOOPBACK) -> None:
        """host: the address it listens on besides 127.0.0.1 and its URLs name (see PostgresServer)."""
        self.host = host
        self.binary = binary or find_redis_server()
        if self.binary is None:
            raise ServiceUnavailable("redis-server not found (Debian package redis-server)")
        self.port = port or free_port()
        self.password = password
        self.base_dir = Path(tempfile.mkdtemp(prefix="mbh-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.base_dir / "redis.log"

    def url(self, db: int = 0) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def start(self) -> RedisServer:
        if self.running:
            return self
        args = [
            self.binary, "--bind", *dict.fromkeys((LOOPBACK, self.host)), "--port", str(self.port), "--dir", str(self.base_dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
            "--logfile", str(self.log_file), "--databases", "16",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        quiet = subprocess.DEVNULL
        self.process = subprocess.Popen(args, stdin=quiet, stdout=quiet, stderr=quiet)
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceUnavailable(f"redis-server exited with {self.process.returncode}:\n{_tail(self.log_file)}")
            if self.ping():
                return
            time.sleep(0.05)
        raise ServiceUnavailable(f"redis-server did not answer PING within {timeout:.0f}s:\n{_tail(self.log_file)}")

    def command(self, *parts: str, timeout: float = 2.0) -> bytes:
        """Send one command (RESP) and return the raw reply; raises OSError when down."""
        payload = b"".join(
            f"*{len(p)}\r\n".encode() + b"".join(f"${len(x.encode())}\r\n{x}\r\n".encode() for x in p)
            for p in ((["AUTH", self.password] if self.password else []), list(parts))
            if p
        )
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as sock:
            sock.sendall(payload)
            expected = 2 if self.password else 1
            data = b""
            while data.count(b"\r\n") < expected:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    def ping(self) -> bool:
        try:
            return self.command("PING").endswith(b"+PONG\r\n")
        except OSError:
            return False

    def flushall(self) -> None:
        self.command("FLUSHALL")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)


@contextlib.contextmanager
def redis_server(**kwargs: object) -> Iterator[RedisServer]:
    server = RedisServer(**kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.cleanup()


# --- pytest fixtures -----------------------------------------------------------------


def _start_or_skip(factory):
    try:
        return factory()
    except ServiceUnavailable as exc:
        if "not found" in str(exc):
            skip_or_fail(str(exc).splitlines()[0])
        raise


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session; use create_database() per suite/test."""
    server = _start_or_skip(lambda: PostgresServer())
    try:
        yield _start_or_skip(server.start)
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """One password-protected Redis for the session (do not stop it: use fresh_redis)."""
    server = _start_or_skip(lambda: RedisServer(password=secrets.token_urlsafe(12)))
    try:
        yield _start_or_skip(server.start)
    finally:
        server.cleanup()


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, free to stop and restart."""
    server = _start_or_skip(lambda: RedisServer(password=secrets.token_urlsafe(12)))
    try:
        yield _start_or_skip(server.start)
    finally:
        server.cleanup()
