"""What the stand-in forge takes from this machine, and how it reports: the cache directory, the host's
CA bundle, the Debian mirror apt is configured with, its log line and its error."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

CACHE_DIR = Path(os.environ.get("MBH_BASES_CACHE", "/var/cache/mbhealth-bases"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ForgeError(RuntimeError):
    """The stand-ins cannot be forged here (no root, no debootstrap, no engine, a failed build)."""


def log(msg: str) -> None:
    print(f"forge-bases: {msg}", file=sys.stderr, flush=True)


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
