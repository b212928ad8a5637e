"""The Pulumi CLI on one stack: config, outputs and state directly; `up` and `preview` through
scripts/stack.sh, the one way this project runs a stack (state folder, passphrase, explicit kube
context, the images built by pulumi-docker or prebuilt from the same specs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from scripts.ci.credentials import backend_env
from scripts.ci.github import Job
from scripts.ci.tools import REPO_ROOT, run

STACK_SCRIPT = REPO_ROOT / "scripts" / "stack.sh"
PROJECT = "mbhealth"


def dev_passphrase() -> str:
    """The dev stack's public passphrase, as scripts/stack.sh defines it (its salt is committed)."""
    match = re.search(r"^DEV_PASSPHRASE=(\S+)$", STACK_SCRIPT.read_text(), re.M)
    assert match, "scripts/stack.sh defines DEV_PASSPHRASE"
    return match.group(1)


@dataclass
class Stack:
    name: str
    env: dict[str, str]

    @classmethod
    def of(cls, job: Job, name: str, **extra: str) -> "Stack":
        env = {**job.environ, **backend_env(job), **extra, "STACK": name, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        if env["PULUMI_BACKEND_URL"].startswith("file://"):  # as scripts/stack.sh makes it
            Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        # Each stack its own passphrase: dev's is the public one (whatever the job holds for
        # another stack, e.g. prod's preview reading dev's outputs), any other the job's.
        if name == "dev":
            env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
            env["PULUMI_CONFIG_PASSPHRASE"] = dev_passphrase()
        elif not env.get("PULUMI_CONFIG_PASSPHRASE"):
            env.pop("PULUMI_CONFIG_PASSPHRASE", None)
        return cls(name, env)

    @property
    def file(self) -> Path:
        return REPO_ROOT / f"Pulumi.{self.name}.yaml"

    def pulumi(self, *args: str, stdin: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
        return run(["pulumi", *args], env=self.env, stdin=stdin, check=check)

    def exists(self) -> bool:
        listed = json.loads(self.pulumi("stack", "ls", "--json").stdout or "[]")
        return any(entry.get("name", "").split("/")[-1] == self.name for entry in listed)

    def select(self, create: bool) -> None:
        self.pulumi("stack", "select", *(["--create"] if create else []), self.name)

    def set(self, key: str, value: str, path: bool = False) -> None:
        self.pulumi("config", "set", "--stack", self.name, *(["--path"] if path else []), key, value)

    def set_secret(self, key: str, value: str) -> None:
        """A secret on stdin, never on the command line (process listings and logs show argv)."""
        self.pulumi("config", "set", "--secret", "--stack", self.name, key, stdin=value)

    def images(self) -> Optional[dict[str, str]]:
        """The stack's `images` output (its last good release), or None before its first deploy."""
        out = self.pulumi("stack", "output", "--stack", self.name, "images", "--json", check=False)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        images = json.loads(out.stdout)
        return images if isinstance(images, dict) and images else None

    def resources(self) -> list[dict[str, Any]]:
        out = self.pulumi("stack", "export", "--stack", self.name, check=False)
        if out.returncode != 0 or not out.stdout.strip():
            return []
        return (json.loads(out.stdout).get("deployment") or {}).get("resources") or []

    def last_deployed_file(self) -> Optional[dict[str, Any]]:
        """The stack file as the last update ran it (`pulumi config refresh`: the backend keeps each
        update's config, secrets as their ciphertext); None before the first update. The checkout's
        own file is left as it was."""
        original = self.file.read_text()
        try:
            out = self.pulumi("config", "refresh", "--force", "--stack", self.name, check=False)
            return (yaml.safe_load(self.file.read_text()) or {}) if out.returncode == 0 else None
        finally:
            self.file.write_text(original)

    def script(self, action: str, *args: str) -> subprocess.CompletedProcess:
        """`scripts/stack.sh <action> <args>` for this stack, its output shown as it comes and kept."""
        proc = subprocess.Popen(["bash", str(STACK_SCRIPT), action, *args], env=self.env, cwd=REPO_ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
        sys.stdout.flush()
        return subprocess.CompletedProcess(proc.args, proc.wait(), "".join(lines), "")


def stack_file(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / f"Pulumi.{name}.yaml").read_text()) or {}


def registry_server(name: str) -> str:
    """`mbhealth:registry.server` as the committed stack file sets it: known before that stack exists
    in any backend (the first-ever deploy on main runs before prod's stack was ever created)."""
    server = ((stack_file(name).get("config") or {}).get(f"{PROJECT}:registry") or {}).get("server")
    if not isinstance(server, str) or not server:
        raise ValueError(f"Pulumi.{name}.yaml: {PROJECT}:registry.server is missing; expected <host>[/<path>]")
    return server
