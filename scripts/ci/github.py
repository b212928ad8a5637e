"""The environment GitHub gives a job step: event, commit, outputs, summary and annotations."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

SHA = re.compile(r"[0-9a-f]{40}")
DEPENDABOT = "dependabot[bot]"


class JobFailed(SystemExit):
    """Stops the step with exit status 1 after an `::error::` annotation naming what to fix."""

    def __init__(self, message: str):
        print(f"::error::{message}", flush=True)
        super().__init__(1)


@dataclass
class Job:
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def get(self, name: str, default: str = "") -> str:
        return self.environ.get(name) or default

    def require(self, name: str, what: str) -> str:
        value = self.get(name)
        if not value:
            raise JobFailed(f"{name} is empty: {what}")
        return value

    @property
    def sha(self) -> str:
        sha = self.get("GITHUB_SHA")
        if not SHA.fullmatch(sha):
            raise JobFailed(f"GITHUB_SHA is {sha!r}; expected the commit's 40 lower-case hex digits")
        return sha

    @property
    def repository(self) -> str:
        return self.require("GITHUB_REPOSITORY", "expected <owner>/<name> (GitHub sets it)")

    @property
    def temp(self) -> Path:
        return Path(self.get("RUNNER_TEMP") or tempfile.gettempdir())

    def event(self) -> dict[str, Any]:
        path = self.get("GITHUB_EVENT_PATH")
        return json.loads(Path(path).read_text()) if path and Path(path).is_file() else {}

    @property
    def pull_request(self) -> dict[str, Any]:
        return self.event().get("pull_request") or {}

    def pr_number(self) -> Optional[int]:
        number = self.pull_request.get("number")
        return int(number) if number else None

    def from_this_repository(self) -> bool:
        """A pull request whose head is a branch of this repository (a fork's gets no write token)."""
        head = (self.pull_request.get("head") or {}).get("repo") or {}
        return head.get("full_name") == self.get("GITHUB_REPOSITORY")

    def by_dependabot(self) -> bool:
        author = (self.pull_request.get("user") or {}).get("login")
        return DEPENDABOT in (self.get("GITHUB_ACTOR"), author)

    def output(self, name: str, value: str) -> None:
        assert "\n" not in value, f"step output {name} must be one line"
        self._append("GITHUB_OUTPUT", f"{name}={value}\n")

    def summary(self, text: str) -> None:
        self._append("GITHUB_STEP_SUMMARY", text.rstrip("\n") + "\n")

    def _append(self, variable: str, text: str) -> None:
        path = self.get(variable)
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(text)
