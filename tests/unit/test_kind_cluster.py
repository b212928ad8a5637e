"""`make cluster` (tools/kind/cluster.sh), run against stand-ins for docker, kind and kubectl
that log every call: the registry port is configurable, every kubectl call names the kind
context, and no failing command is swallowed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.synth import REPO_ROOT

SCRIPT = REPO_ROOT / "tools" / "kind" / "cluster.sh"

# One stand-in for the three tools: logs its argv; FAIL_ON (a substring of the call) makes it fail.
FAKE = r"""#!/usr/bin/env bash
tool=$(basename "$0")
call="$tool $*"
echo "$call" >> "$FAKE_LOG"
if [[ -n "${FAIL_ON:-}" && "$call" == *"$FAIL_ON"* ]]; then echo "$tool: simulated failure" >&2; exit 3; fi
case "$call" in
  "docker ps "*) printf '%s' "${REGISTRY_STATE:-}" ;;
  "docker port "*) echo "127.0.0.1:${PUBLISHED_PORT:-5000}" ;;
  "docker inspect "*) : ;;
  "docker exec -i "*) cat > /dev/null ;;
  "kind get clusters"*) printf '%s' "${CLUSTERS:-}" ;;
  "kind get nodes"*) echo "mbhealth-control-plane" ;;
  "kind create "*|"kubectl "*"apply -f -"*) cat > "$FAKE_LOG.stdin.$tool.$RANDOM" ;;
esac
exit 0
"""


@pytest.fixture
def tools(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "kind", "kubectl"):
        path = bin_dir / tool
        path.write_text(FAKE)
        path.chmod(0o755)
    return tmp_path


def run(tools: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str], str]:
    log = tools / "calls.log"
    log.write_text("")
    full_env = {"PATH": f"{tools / 'bin'}:/usr/bin:/bin", "FAKE_LOG": str(log), "HOME": str(tools), **env}
    result = subprocess.run(["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=60)
    stdin = "".join(p.read_text() for p in sorted(tools.glob("calls.log.stdin.*")))
    return result, log.read_text().splitlines(), stdin


def test_the_registry_port_is_configurable(tools):
    result, calls, stdin = run(tools, REGISTRY_PORT="5001", PUBLISHED_PORT="5001")
    assert result.returncode == 0, result.stderr
    assert "docker run -d --restart=always -p 127.0.0.1:5001:5000 --network bridge --name kind-registry registry:2" in calls
    assert any("/etc/containerd/certs.d/localhost:5001/hosts.toml" in c for c in calls)
    assert 'host: "localhost:5001"' in stdin
    assert "pulumi config set --stack dev --path registry.server localhost:5001" in result.stdout


def test_the_default_port_is_5000(tools):
    result, calls, stdin = run(tools)
    assert result.returncode == 0, result.stderr
    assert any("-p 127.0.0.1:5000:5000" in c for c in calls)
    assert 'host: "localhost:5000"' in stdin


def test_every_kubectl_call_names_the_kind_context(tools):
    result, calls, _ = run(tools, KIND_CLUSTER="demo")
    assert result.returncode == 0, result.stderr
    kubectl = [c for c in calls if c.startswith("kubectl ")]
    assert len(kubectl) == 3
    assert all(c.startswith("kubectl --context kind-demo ") for c in kubectl), kubectl


@pytest.mark.parametrize("failing", ["docker network connect", "docker exec", "kind get clusters", "docker ps",
                                     "kubectl --context kind-mbhealth apply -f -", "docker inspect"])
def test_no_error_is_swallowed(tools, failing):
    result, calls, _ = run(tools, FAIL_ON=failing)
    assert result.returncode != 0
    assert "simulated failure" in result.stderr
    assert "is ready" not in result.stdout
    if failing == "kind get clusters":
        assert not any(c.startswith("kind create") for c in calls)  # a failing kind is not "no cluster yet"


def test_a_registry_on_another_port_is_reported_not_reused(tools):
    result, calls, _ = run(tools, REGISTRY_STATE="running", REGISTRY_PORT="5001", PUBLISHED_PORT="5000")
    assert result.returncode == 1
    assert "publishes 127.0.0.1:5000, not port 5001" in result.stderr
    assert not any(c.startswith("docker run") for c in calls)


@pytest.mark.parametrize("port", ["0", "70000", "50a", ""])
def test_a_bad_port_is_refused(tools, port):
    result, calls, _ = run(tools, REGISTRY_PORT=port)
    if port == "":
        assert result.returncode == 0  # empty means the default
        return
    assert result.returncode == 2 and "REGISTRY_PORT must be a port number" in result.stderr
    assert calls == []


def test_kind_cluster_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                            env={**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_cluster_passes_the_port():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "REGISTRY_PORT=$(REGISTRY_PORT) bash tools/kind/cluster.sh" in makefile
