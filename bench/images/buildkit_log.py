"""BuildKit's plain-progress log: which steps ran, which came from the cache, and how long each took."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_STEP_NAME = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$")
_STEP_STATE = re.compile(r"^#(\d+) (CACHED|DONE ([0-9.]+)s)$")


@dataclass(frozen=True)
class Step:
    name: str  # "[builder 3/5] RUN --mount=... pip install ..."
    cached: bool
    seconds: float


def parse_steps(buildkit_log: str) -> list[Step]:
    names: dict[str, str] = {}
    states: dict[str, tuple[bool, float]] = {}
    for line in buildkit_log.splitlines():
        if m := _STEP_NAME.match(line):
            names.setdefault(m.group(1), f"[{m.group(2)}] {m.group(3)}")
        elif m := _STEP_STATE.match(line):
            states[m.group(1)] = (m.group(2) == "CACHED", float(m.group(3) or 0.0))
    steps = []
    for step_id, name in names.items():
        if " FROM " in f" {name.split('] ', 1)[1]}" or name.startswith("[internal]"):
            continue
        cached, seconds = states.get(step_id, (False, 0.0))
        steps.append(Step(name=re.sub(r"\s+", " ", name), cached=cached, seconds=seconds))
    return steps


def dependency_steps(steps: Sequence[Step]) -> list[Step]:
    """The dependency installs: RUN steps with a BuildKit cache mount (pip install, npm ci)."""
    return [s for s in steps if "RUN --mount=type=cache" in s.name]


def short_step(name: str, width: int = 70) -> str:
    name = re.sub(r"--mount=\S+\s*", "", name).replace("|", "\\|")
    return name if len(name) <= width else name[: width - 1] + "…"
