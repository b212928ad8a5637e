"""The laptop path: `make up|preview|down KUBE_CONTEXT=…` with a context of the user's kubeconfig
and Docker at its usual socket, the project's private engine out of sight, as on a laptop with kind.

The session's cluster stands in for the laptop's kind cluster (its admin kubeconfig copied under the
context name `kind-mbhealth`, into a HOME whose ~/.kube/config has another current context, which
must not be used or changed); this dev stack lives in a namespace and under a host of its own
(`mbhealth-laptop`, laptop.mbhealth.localhost) beside the session's dev stack, as a second
checkout's stack would. `make` runs in a mount namespace of its own where
/run/mbhealth-docker.sock (the private engine's socket, which the tools fall back to) does not
exist and the same daemon answers at /var/run/docker.sock, the default socket, with DOCKER_HOST
unset. What differs from a laptop, because this machine reaches no public registry: the Pulumi CLI
and providers are the built toolchain (`MBH_PULUMI=built`; the images are then prebuilt from the
same specs, as the docker provider cannot be built here) and the base images are the offline
stand-ins (`MBH_BASE_IMAGES`); the stack file's ingress is set to this cluster's controller, as a
user sets it to theirs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e import engine

CONTEXT = "kind-mbhealth"
PRIVATE_SOCKET = Path("/run/mbhealth-docker.sock")
# The private engine's socket hidden, the same daemon at the default socket; then the command.
LAPTOP_DOCKER = r'''set -eu
hold=$LAPTOP_HOLD
touch "$hold/docker.sock"
mount --bind "$PRIVATE_SOCKET" "$hold/docker.sock"
mount -t tmpfs -o size=1m,mode=0755 laptop-run /run
touch /run/docker.sock
mount --bind "$hold/docker.sock" /run/docker.sock
if [ -e "$PRIVATE_SOCKET" ] || [ ! -S /var/run/docker.sock ]; then
    echo "laptop-docker: the private socket is still there, or none at the default one" >&2
    exit 1
fi
exec "$@"
'''


NAMESPACE = "mbhealth-laptop"
HOST = "laptop.mbhealth.localhost"


@pytest.fixture(scope="module")
def laptop(engine_env: dict[str, str], cluster: engine.LocalCluster,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (a mount namespace of the test's own)")
    if not PRIVATE_SOCKET.is_socket():
        pytest.fail(f"the private Docker engine does not answer at {PRIVATE_SOCKET}", pytrace=False)
    root: Path = tmp_path_factory.mktemp("laptop")
    if True:
        (root / "hold").mkdir()
        home = root / "home"
        (home / ".kube").mkdir(parents=True)
        kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
        for context in kubeconfig["contexts"]:
            context["name"] = CONTEXT
        kubeconfig["current-context"] = CONTEXT
        users_config = {"apiVersion": "v1", "kind": "Config", "current-context": "someone-elses",
                        "clusters": [{"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1"}}],
                        "users": [{"name": "nobody", "user": {}}],
                        "contexts": [{"name": "someone-elses", "context": {"cluster": "elsewhere", "user": "nobody"}},
                                     *kubeconfig["contexts"]],
                        }
        users_config["clusters"] += kubeconfig["clusters"]
        users_config["users"] += kubeconfig["users"]
        (home / ".kube" / "config").write_text(yaml.safe_dump(users_config))

        project = engine.copy_checkout(root / "project")
        engine.set_stack_value(project, "dev", "ingress", {**yaml.safe_load(
            (project / "Pulumi.dev.yaml").read_text())["config"]["mbhealth:ingress"], **cluster.stack_settings()["ingress"],
            "host": HOST})
        engine.set_stack_value(project, "dev", "namespace", NAMESPACE)
        # The offline stand-ins: the base images, and the data services' images the node pulls from the
        # project's registry as from a mirror of Docker Hub (a laptop's kind pulls the real ones).
        python = str(project / ".venv" / "bin" / "python")
        stand_ins = engine.run([python, "tools/standins/forge_bases.py", "--json"], env=engine_env, cwd=project).stdout.strip()
        engine.run([python, "tools/standins/data_services.py"], env=engine_env, cwd=project)
        env = {key: value for key, value in engine_env.items()
               if key not in ("DOCKER_HOST", "KUBECONFIG", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL")}
        # The built toolchain stays where it is (its cache is keyed under the real HOME by default).
        tools = os.environ.get("MBH_TOOLS_CACHE") or str(Path.home() / ".cache" / "mbhealth" / "tools")
        env.update(HOME=str(home), MBH_TOOLS_CACHE=tools, KUBE_CONTEXT=CONTEXT, MBH_PULUMI="built", MBH_BASE_IMAGES=stand_ins,
                   PULUMI_BACKEND_URL=f"file://{root / 'state'}", PRIVATE_SOCKET=str(PRIVATE_SOCKET),
                   LAPTOP_HOLD=str(root / "hold"),
                   STACK="dev")
        yield {"project": project, "env": env, "cluster": cluster, "home": home, "root": root,
               "users_config": (home / ".kube" / "config").read_text()}


def laptop_make(laptop: dict, target: str, *args: str, check: bool = True):
    """`make <target>` as on the laptop: in the mount namespace where only the default socket exists."""
    return engine.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", LAPTOP_DOCKER, "laptop-docker",
                       "make", "--no-print-directory", target, *args],
                      env=laptop["env"], cwd=laptop["project"], check=check, timeout=2400)


def test_make_up_preview_down_with_kube_context_and_the_default_docker_socket(laptop: dict) -> None:
    cluster: engine.LocalCluster = laptop["cluster"]
    up = laptop_make(laptop, "up")
    said = up.stdout + up.stderr
    assert "docker-engine" not in said and "cluster: running" not in said, "the private engine or cluster was started"
    namespace = NAMESPACE
    pods = cluster.get("pods", namespace=namespace)["items"]
    assert pods and all(p["status"]["phase"] in ("Running", "Succeeded") for p in pods), \
        [(p["metadata"]["name"], p["status"]["phase"]) for p in pods]
    stack = engine.Stack(laptop["project"], "dev", {**laptop["env"], "KUBECONFIG": str(cluster.kubeconfig)},
                         passphrase="mbhealth-dev-local")
    images = stack.outputs()["images"]
    assert all("@sha256:" in ref for ref in images.values()), images
    url = stack.outputs()["url"]
    ready = json.loads(engine.run(["curl", "-sf", "--max-time", "10", f"{url}/api/v1/health/ready"],
                                  env=laptop["env"]).stdout)
    assert ready["status"] == "ready", ready

    laptop_make(laptop, "preview", "PULUMI_ARGS=--expect-no-changes")
    laptop_make(laptop, "down")
    left = cluster.kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").stdout.strip()
    assert left == "", left
    # The user's kubeconfig is as it was: read, never written, its current context never used.
    assert (laptop["home"] / ".kube" / "config").read_text() == laptop["users_config"]
