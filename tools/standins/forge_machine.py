"""What the stand-in forge takes from this machine, and how it reports: the cache directory, the host's
CA bundle, the Debian mirror apt is configured with, its log line and its error, and the lock that lets
one forge at a time work on them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
from pathlib import Path
from typing import Iterator

CACHE_DIR = Path(os.environ.get("MBH_BASES_CACHE", "/var/cache/mbhealth-bases"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ForgeError(RuntimeError):
    """The stand-ins cannot be forged here (no root, no debootstrap, no engine, a failed build)."""


def log(msg: str) -> None:
    print(f"forge-bases: {msg}", file=sys.stderr, flush=True)


_held = 0  # how deep this process is inside forge_lock()


@contextlib.contextmanager
def forge_lock() -> Iterator[None]:
    """One forge at a time on this machine (two test sessions side by side, a `make up` beside a test
    run): the second waits, then finds the stand-ins current. Re-entrant within a process."""
    global _held
    if _held:
        _held += 1
        try:
            yield
        finally:
            _held -= 1
        return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "forge.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another forge is at work on this machine; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        _held = 1
        try:
            yield
        finally:
            _held = 0
            fcntl.flock(lock, fcntl.LOCK_UN)


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (sources.list or deb822 .sources)."""
    paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in paths:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.MULTILINE):
            if uri.rstrip("/").endswith("/debian") and uri.startswith(("http://", "https://")):
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"
