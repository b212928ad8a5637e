"""Scanners over what the program deploys and builds: checkov, with the waivers in policy/waivers.yaml.

    python -m policy.scan            # every stack's synthesized manifests + the Dockerfiles

checkov runs fully offline (`--skip-download`, no platform mapping, no update
check) from its own virtualenv (.venv/scan: it pins packaging<24, which the
backend's pins exclude), created on first use from policy/requirements-scan.txt.
Exit status: 0 when every failure is waived, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
WAIVERS_FILE = REPO_ROOT / "policy" / "waivers.yaml"
SCAN_REQUIREMENTS = REPO_ROOT / "policy" / "requirements-scan.txt"
SCAN_VENV = REPO_ROOT / ".venv" / "scan"
DOCKERFILES = ("apps/backend/Dockerfile", "apps/frontend/Dockerfile")
STACKS = ("dev", "prod")
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",  # no guideline/mapping download from the platform
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",  # no PyPI version check
    "LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str  # checkov's resource id: Kind.namespace.name, or Dockerfile path.INSTRUCTION
    file: str
    framework: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource} ({self.file}): {self.check_name}"


@dataclass(frozen=True)
class Waiver:
    check_id: str
    reason: str
    only: Optional[tuple[str, ...]] = None

    def covers(self, finding: Finding) -> bool:
        return finding.check_id == self.check_id and (self.only is None or finding.resource in self.only)


def load_waivers(path: Path = WAIVERS_FILE) -> dict[str, Waiver]:
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    waivers = {}
    for check_id, entry in (document.get("checkov") or {}).items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("reason"), str):
            raise ValueError(f"{path.name}: {check_id} needs a one-line `reason`")
        only = entry.get("only")
        waivers[check_id] = Waiver(check_id, entry["reason"], tuple(only) if only is not None else None)
    return waivers


def checkov_binary() -> Optional[Path]:
    """CHECKOV (env), the scan venv's checkov, or one on the PATH."""
    for candidate in (os.environ.get("CHECKOV"), SCAN_VENV / "bin" / "checkov"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    from shutil import which

    found = which("checkov")
    return Path(found) if found else None


def ensure_checkov() -> Path:
    """The checkov binary, installing the pinned scan venv first if there is none."""
    binary = checkov_binary()
    if binary is not None:
        return binary
    subprocess.run([sys.executable, "-m", "venv", str(SCAN_VENV)], check=True)
    subprocess.run([str(SCAN_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", str(SCAN_REQUIREMENTS)], check=True)
    return SCAN_VENV / "bin" / "checkov"


def _json_documents(text: str) -> list[dict[str, Any]]:
    """checkov prints one JSON document per target (an object, or a list of them per framework)."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return documents
        document, index = decoder.raw_decode(text, index)
        documents.extend(document if isinstance(document, list) else [document])


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    passed: int  # checks that passed: evidence the scan looked at something


def run_checkov(targets: Sequence[Path], framework: str, binary: Optional[Path] = None) -> Report:
    """checkov over files or directories (offline, JSON output): failed checks and the passed count."""
    binary = binary or ensure_checkov()
    command = [str(binary), "--framework", framework, "--quiet", "--compact", "-o", "json", "--skip-download"]
    for target in targets:  # checkov names repository files by the path it is given: keep it repo-relative
        path = target.relative_to(REPO_ROOT) if target.is_absolute() and target.is_relative_to(REPO_ROOT) else target
        command += ["-d" if target.is_dir() else "-f", str(path)]
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, **OFFLINE_ENV},
                         timeout=300)
    if run.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    reports = _json_documents(run.stdout)
    if not reports:
        raise RuntimeError(f"checkov printed no JSON report: {run.stdout[:500]} {run.stderr[-1000:]}")
    findings, passed = [], 0
    for report in reports:
        summary = report.get("summary", {})
        if summary.get("parsing_errors"):
            raise RuntimeError(f"checkov could not parse {summary['parsing_errors']} file(s): "
                               f"{report.get('results', {}).get('parsing_errors')}")
        passed += summary.get("passed", 0)
        for failed in report.get("results", {}).get("failed_checks", []):
            findings.append(Finding(failed["check_id"], failed.get("check_name", ""), failed["resource"],
                                    failed.get("file_path", ""), report.get("check_type", framework)))
    return Report(findings, passed)


def unwaived(findings: Iterable[Finding], waivers: Mapping[str, Waiver]) -> list[Finding]:
    return [f for f in findings if not any(w.covers(f) for w in waivers.values())]


def unused_waivers(findings: Iterable[Finding], waivers: Mapping[str, Waiver]) -> list[Waiver]:
    findings = list(findings)
    return [w for w in waivers.values() if not any(w.covers(f) for f in findings)]


def write_stack_manifests(out: Path, stacks: Sequence[str] = STACKS) -> dict[str, Path]:
    """Each stack's synthesized manifests (secrets redacted) in out/<stack>/, one file per object."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from scripts.synth import synthesize, write_manifests

    directories = {}
    for stack in stacks:
        directory = out / stack
        write_manifests(synthesize(stack), directory)
        (directory / "outputs.json").unlink(missing_ok=True)  # not a manifest
        directories[stack] = directory
    return directories


def scan_all(work: Path, binary: Optional[Path] = None) -> list[Finding]:
    write_stack_manifests(work)
    findings = run_checkov([work], "kubernetes", binary).findings  # one directory: stack subdirectories
    findings += run_checkov([REPO_ROOT / path for path in DOCKERFILES], "dockerfile", binary).findings
    return findings


def main(argv: Optional[list[str]] = None) -> int:
    waivers = load_waivers()
    with tempfile.TemporaryDirectory(prefix="mbhealth-scan-") as work:
        findings = scan_all(Path(work))
    open_findings = unwaived(findings, waivers)
    for finding in findings:
        status = "FAIL  " if finding in open_findings else "waived"
        print(f"{status} {finding}")
    for waiver in unused_waivers(findings, waivers):
        print(f"unused waiver {waiver.check_id}: remove it from {WAIVERS_FILE.relative_to(REPO_ROOT)}")
    print(f"checkov: {len(findings)} failed checks, {len(open_findings)} not waived")
    return 1 if open_findings else 0


if __name__ == "__main__":
    sys.exit(main())
