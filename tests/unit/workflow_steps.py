"""Run a GitHub workflow's steps here, as the runner would, against stand-in tools.

The steps are taken from the workflow file as written (nothing is copied into the tests): each
`run:` goes to `bash -e` (the runner's default shell) in the checkout with the job's and the step's
`env:`, whose `${{ }}` expressions are answered from a table the test gives; an expression the
table lacks fails the test, so a workflow change the test does not know about cannot pass unseen.
A step's `run:` is one `python -m scripts.ci <command>` call (tests/unit/test_workflow_shape.py):
its interpreter (`python3`, `.venv/bin/python`) is this test's Python, so the product's own
scripts run. `pulumi`, `gh`, `skopeo`, `cosign`, `kubectl` and `docker` are stand-ins on PATH that
record their arguments, what they read on stdin and the credentials they were given in a
JSON-lines log; `bash`, `jq` and scripts/stack.sh are the real ones.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")

# A recording stand-in: argv, stdin (when it is not a terminal), the credentials in its environment
# and, for `pulumi preview|up`, the stack file (FAKE_SNAPSHOT) as one JSON line; then the canned
# answer for the first rule whose argv prefix matches (the file FAKE_ANSWERS: [[prefix, stdout, rc, copy?, to?]]).
FAKE_TOOL = r'''#!/usr/bin/env python3
import json, os, shutil, sys
args = sys.argv[1:]
record = {"tool": os.path.basename(sys.argv[0]), "args": args,
          "env": {k: os.environ[k] for k in json.loads(os.environ["FAKE_ENV"]) if k in os.environ}}
if not sys.stdin.isatty():
    record["stdin"] = sys.stdin.read()
if os.environ.get("FAKE_SNAPSHOT") and args[:1] in (["preview"], ["up"]):  # the stack file as the CLI reads it
    with open(os.environ["FAKE_SNAPSHOT"]) as snapshot:
        record["snapshot"] = snapshot.read()
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(record) + "\n")
with open(os.environ["FAKE_ANSWERS"]) as answers:
    answers = json.load(answers)
for prefix, out, rc, *copy in answers:
    if [record["tool"], *args][:len(prefix)] == prefix:
        if copy:  # a file the command writes: gh run download into --dir, pulumi config refresh over the stack file
            source, dest = copy if len(copy) == 2 else (copy[0], args[args.index("--dir") + 1])
            if len(copy) == 1:
                os.makedirs(dest, exist_ok=True)
            shutil.copy(source, dest)
        sys.stdout.write(out)
        sys.exit(rc)
'''
TOOLS = ("pulumi", "gh", "skopeo", "cosign", "kubectl", "docker", "make")
# What the stand-ins record of their environment: the credentials a command was given.
RECORDED_ENV = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "KUBECONFIG",
                "KUBE_CONTEXT", "STACK", "AWS_ACCESS_KEY_ID", "GH_TOKEN")
# The interpreters a step may call the scripts with (test_workflow_shape.py), run here as this Python.
INTERPRETERS = ("python3", ".venv/bin/python")


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))
    return document


def require_tools() -> None:
    missing = [tool for tool in ("bash", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (tools/machine/system-deps.sh installs them)")


@dataclass
class Runner:
    """A runner's temp dirs and stand-in tools; `expressions` answers the workflow's `${{ }}`."""

    root: Path
    expressions: dict[str, str]
    answers: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in TOOLS:
            path = self.bin / tool
            path.write_text(FAKE_TOOL)
            path.chmod(0o755)
        self.temp = self.root / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.log = self.root / "tools.jsonl"
        self.log.touch()
        self.outputs = self.root / "github-output"
        self.summary = self.root / "step-summary"
        self.env_file = self.root / "github-env"
        self.event_file = self.root / "event.json"
        self.answers_file = self.root / "answers.json"
        self.event({})
        self.expressions.setdefault("runner.temp", str(self.temp))

    def answer(self, prefix: list[str], stdout: str = "", rc: int = 0, copy: Optional[Path] = None,
               to: Optional[Path] = None) -> None:
        """The stand-in `prefix[0]` answers argv starting with `prefix[1:]` with `stdout`, exit `rc`,
        first copying file `copy` into `--dir` (or to `to`)."""
        self.answers.append([prefix, stdout, rc, *([str(copy)] if copy else []), *([str(to)] if to else [])])

    def evaluate(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1)
            assert expression in self.expressions, f"the test does not know the workflow's ${{{{ {expression} }}}}"
            return self.expressions[expression]

        return EXPRESSION.sub(one, str(text))

    def event(self, payload: Mapping[str, Any]) -> None:
        """The webhook payload GitHub leaves at GITHUB_EVENT_PATH."""
        self.event_file.write_text(json.dumps(payload))

    def run(self, step: Mapping[str, Any], env: Optional[Mapping[str, str]] = None,
            job: Optional[Mapping[str, Any]] = None, workflow: Optional[Mapping[str, Any]] = None
            ) -> subprocess.CompletedProcess:
        """Run one step as the runner would (the workflow's, the job's and the step's env, in that
        order); its GITHUB_OUTPUT is fresh for each step."""
        self.outputs.write_text("")
        self.answers_file.write_text(json.dumps(self.answers))
        declared = {**((workflow or {}).get("env") or {}), **((job or {}).get("env") or {}), **(step.get("env") or {})}
        step_env = {key: self.evaluate(value) for key, value in declared.items()}
        full = {
            "PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.root), "FAKE_LOG": str(self.log),
            "FAKE_ANSWERS": str(self.answers_file), "FAKE_ENV": json.dumps(RECORDED_ENV),
            "RUNNER_TEMP": str(self.temp), "GITHUB_OUTPUT": str(self.outputs),
            "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_ENV": str(self.env_file),
            "GITHUB_SHA": self.expressions.get("github.sha", ""), "GITHUB_EVENT_PATH": str(self.event_file),
            "GITHUB_REPOSITORY": self.expressions.get("github.repository", ""),
            "MBH_STACK_STATE": str(self.root / "stack-state"), **(env or {}), **step_env,
        }
        script = step["run"]
        for interpreter in INTERPRETERS:
            if script.startswith(interpreter + " "):
                script = sys.executable + script[len(interpreter):]
        return subprocess.run(["bash", "-e", "-c", script], env=full, cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    def summary_text(self) -> str:
        return self.summary.read_text() if self.summary.exists() else ""

    def step_outputs(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.outputs.read_text().splitlines() if "=" in line)

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [call for call in map(json.loads, self.log.read_text().splitlines()) if call["tool"] == tool]


@dataclass
class StackConfigSet:
    """What a run of `pulumi config set` commands leaves in a stack's config, as synth takes it."""

    plain: dict[str, Any] = field(default_factory=dict)  # key -> value (nested for --path)
    secrets: dict[str, str] = field(default_factory=dict)
    stacks: set[str] = field(default_factory=set)


def config_sets(calls: list[dict[str, Any]]) -> StackConfigSet:
    """Replay the recorded `pulumi config set` calls (the CLI's rules: value argument or stdin less
    one trailing newline; `--path a.b.c` sets a nested key; `--secret` encrypts)."""
    result = StackConfigSet()
    for call in calls:
        args = call["args"]
        if args[:2] != ["config", "set"]:
            continue
        positional, flags, rest = [], set(), iter(args[2:])
        for arg in rest:
            if arg == "--stack":
                result.stacks.add(next(rest))
            elif arg.startswith("--"):
                flags.add(arg)
            else:
                positional.append(arg)
        key = positional[0]
        value = positional[1] if len(positional) > 1 else re.sub(r"\r?\n$", "", call.get("stdin", ""))
        if "--secret" in flags:
            assert "--path" not in flags, "a secret is one whole key here"
            assert len(positional) == 1, f"secret {key} was passed on the command line (use stdin)"
            result.secrets[key] = value
            continue
        if "--path" in flags:
            *parents, leaf = key.split(".")
            node = result.plain
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        else:
            result.plain[key] = value
    return result


def script_step(job: Mapping[str, Any], command: str) -> Mapping[str, Any]:
    """The job's one step that runs `python -m scripts.ci <command>`."""
    (step,) = [step for step in job.get("steps", []) if re.search(rf"-m scripts\.ci {command}\b", step.get("run", ""))]
    return step


def steps_running(job: Mapping[str, Any], *needles: str) -> list[Mapping[str, Any]]:
    """The job's `run:` steps whose script mentions any of `needles`, in order."""
    return [step for step in job.get("steps", []) if "run" in step and any(n in step["run"] for n in needles)]
