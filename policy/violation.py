"""What a rule reports: one violation, with its fix, and whether a dev exception makes it advisory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str  # kind/namespace/name (or the docker image)
    problem: str
    fix: str
    container: Optional[str] = None
    exception: Optional[str] = None  # set when a dev exception makes this advisory

    @property
    def mandatory(self) -> bool:
        return self.exception is None

    @property
    def message(self) -> str:
        where = self.resource + (f", container {self.container!r}" if self.container else "")
        text = f"[{self.rule}] {where}: {self.problem}. Fix: {self.fix}"
        if self.exception:
            text += f" ({self.exception})"
        return text

    def __str__(self) -> str:
        return self.message
