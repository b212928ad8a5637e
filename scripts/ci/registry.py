"""The registries' side of a release, with skopeo: is a digest served, copy it keeping it, log in."""

from __future__ import annotations

import re
from typing import Mapping

from scripts.ci.tools import run

PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
# A registry on this machine (the kind cluster's, the local control plane's) speaks plain HTTP.
LOCAL = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")


def host(ref: str) -> str:
    return ref.split("/", 1)[0]


def _tls(ref: str, flag: str) -> list[str]:
    return [f"--{flag}=false"] if LOCAL.match(host(ref)) else []


def served(ref: str, env: Mapping[str, str]) -> bool:
    """Does the registry serve the manifest `ref` (`repo@sha256:…`) names?"""
    return run(["skopeo", "inspect", "--raw", *_tls(ref, "tls-verify"), f"docker://{ref}"], env=env,
               check=False).returncode == 0


def copy(source: str, target: str, env: Mapping[str, str], check: bool = True) -> bool:
    """Every platform of `source` to `target`, its digest kept (what dev ran is what prod pulls)."""
    return run(["skopeo", "copy", "--all", "--preserve-digests", *_tls(source, "src-tls-verify"),
                *_tls(target, "dest-tls-verify"), f"docker://{source}", f"docker://{target}"],
               env=env, check=check).returncode == 0


def login(server: str, user: str, token: str, env: Mapping[str, str]) -> None:
    """The token on stdin, never on the command line."""
    run(["skopeo", "login", host(server), "-u", user, "--password-stdin"], env=env, stdin=token)
