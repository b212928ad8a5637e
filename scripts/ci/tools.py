"""Run one external command: its output captured, a failure turned into one line that names it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]


class CommandFailed(RuntimeError):
    """A command exited non-zero; the message names it (argv never carries a secret) and its last line."""

    def __init__(self, args: Sequence[str], proc: subprocess.CompletedProcess):
        self.proc = proc
        lines = [line for line in f"{proc.stderr or ''}\n{proc.stdout or ''}".splitlines() if line.strip()]
        super().__init__(f"`{' '.join(args[:3])} …` exited {proc.returncode}: {lines[-1] if lines else '(no output)'}")


def run(args: Sequence[str], *, env: Mapping[str, str], stdin: Optional[str] = None, check: bool = True,
        cwd: Path = REPO_ROOT, timeout: float = 3600) -> subprocess.CompletedProcess:
    """`args` with `env`; `stdin` is how a secret reaches a command (never argv)."""
    proc = subprocess.run(list(args), env=dict(env), cwd=cwd, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc)
    return proc
