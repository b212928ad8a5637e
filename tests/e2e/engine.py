"""The real Pulumi engine and a real Kubernetes API server, driven the way a user drives them.

* `toolchain_problem()`: why the built toolchain (tools/engine) cannot be used, or None.
* `LocalCluster`: a cluster of its own with a real node (tools/local-cluster/cluster.sh: the
  control plane, containerd, kubelet, kube-proxy, CoreDNS, Traefik…), for one test session.
* `Project`: a copy of this checkout (tracked and untracked-but-not-ignored files, the
  working tree as it is) that a test may change — code, stack files — without touching the repo.
* `Stack`: one stack of a Project with its own file state backend and passphrase; runs the
  real `pulumi` CLI (`up`, `preview`, `destroy`, `config set`, `stack output`, `stack export`).

Nothing here imports the program: every check reads what the CLI prints, what the state file
holds and what the API server answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.migrations import REFUSED_MIGRATION

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "MBH_REQUIRE_ENGINE"
CLUSTER_SCRIPT = REPO_ROOT / "tools" / "local-cluster" / "cluster.sh"
BUILD_SCRIPT = REPO_ROOT / "tools" / "engine" / "build.sh"
ENV_SCRIPT = REPO_ROOT / "tools" / "engine" / "env.sh"
PLUGINS_SCRIPT = REPO_ROOT / "tools" / "engine" / "plugins.sh"
# Binaries each part of the suite needs, looked up on the toolchain's PATH entries.
REQUIRED_BINARIES = ("pulumi", "pulumi-language-python", "kubectl", "kube-apiserver", "etcd", "kubelet", "kube-proxy",
                     "kube-router", "coredns", "metrics-server", "traefik", "pause", "local-path-provisioner")
REQUIRED_PLUGINS = ("kubernetes", "random")
DEV_NAMESPACE = "mbhealth-dev"  # Pulumi.dev.yaml


def engine_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def toolchain_path() -> list[Path]:
    out = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-path"], capture_output=True, text=True, check=True)
    return [Path(p) for p in out.stdout.strip().split(":") if p]


def _find(binary: str, path: Iterable[Path]) -> Path | None:
    for entry in path:
        candidate = entry / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def toolchain_problem() -> str | None:
    """Why the real-engine suite cannot run here (None: it can)."""
    if shutil.which("go") is None and not toolchain_path():
        return "no Go toolchain and no built engine toolchain (make tools)"
    path = toolchain_path()
    missing = [b for b in REQUIRED_BINARIES if _find(b, path) is None]
    missing += [f"pulumi-resource-{p}" for p in REQUIRED_PLUGINS if _find(f"pulumi-resource-{p}", path) is None]
    if missing:
        return "the engine toolchain is not built (missing " + ", ".join(missing) + "): run make tools"
    return None


def docker_provider_built() -> bool:
    return _find("pulumi-resource-docker", toolchain_path()) is not None


def default_pulumi_home() -> Path:
    """The Pulumi home tools/engine/env.sh uses: MBH_PULUMI_HOME, else the tools cache's."""
    if os.environ.get("MBH_PULUMI_HOME"):
        return Path(os.environ["MBH_PULUMI_HOME"])
    cache = os.environ.get("MBH_TOOLS_CACHE") or Path.home() / ".cache" / "mbhealth" / "tools"
    return Path(cache) / "pulumi-home"


def exported(script: str, env: Mapping[str, str], *, cwd: Path | None = None, then: str = "") -> dict[str, str]:
    """`env` plus what a script prints as `export …` lines for `eval` (then `then`, in that environment)."""
    out = subprocess.run(["bash", "-c", f'eval "$({script})" && {then + " && " if then else ""}env -0'],
                         env=dict(env), cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{script}{' + ' + then if then else ''} failed: {out.stderr.strip()}")
    return dict(item.split("=", 1) for item in out.stdout.split("\0") if "=" in item)


def engine_env(pulumi_home: Path) -> dict[str, str]:
    """The environment `tools/engine/env.sh` exports (plugins installed), with the given Pulumi home."""
    return exported(f"bash {ENV_SCRIPT}", dict(os.environ, MBH_PULUMI_HOME=str(pulumi_home)),
                    then=f"bash {PLUGINS_SCRIPT} >&2")


def with_docker_engine(env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus what tools/machine/docker-engine.sh exports for the project's private engine and registry."""
    return exported(f"bash {REPO_ROOT / 'tools' / 'machine' / 'docker-engine.sh'} env", env)


def stack_env(env: Mapping[str, str], project: Path) -> dict[str, str]:
    """`env` plus what `scripts/stack.sh env` exports in `project` (for raw `pulumi`/`kubectl` calls,
    as the README's "raw pulumi commands" run them)."""
    return exported("bash scripts/stack.sh env", env, cwd=project)


class CommandFailed(AssertionError):
    def __init__(self, args: Sequence[str], proc: subprocess.CompletedProcess[str]):
        self.proc = proc
        tail = "\n".join((proc.stdout + "\n" + proc.stderr).strip().splitlines()[-60:])
        super().__init__(f"{' '.join(args)} exited {proc.returncode}:\n{tail}")


def run(args: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None, check: bool = True,
        timeout: float = 900, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), env=dict(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc)
    return proc


def make(target: str, project: Path, env: Mapping[str, str], *args: str, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    """`make <target>` in a project copy, as the README has users run it."""
    return run(["make", "--no-print-directory", target, *args], env=env, cwd=project, check=check, timeout=2400)


class Started:
    """`with X(...) as x:` starts x and stops it whatever happens (a cluster, a registry)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class LocalCluster(Started):
    """tools/local-cluster/cluster.sh with a state folder, API port and ingress port of its own (its
    node in a network namespace and slot of its own), pulling from the project's registry and
    `registries`."""

    state: Path
    port: int
    env: Mapping[str, str]
    ingress_port: int
    ingress_tls_port: int
    registries: Sequence["Registry"] = ()

    def _script_env(self) -> dict[str, str]:
        return dict(self.env, MBH_CLUSTER_STATE=str(self.state), MBH_CLUSTER_PORT=str(self.port),
                    MBH_CLUSTER_INGRESS=f"127.0.0.1:{self.ingress_port}",
                    MBH_CLUSTER_INGRESS_TLS=f"127.0.0.1:{self.ingress_tls_port}",
                    MBH_CLUSTER_INGRESS_ADMIN=str(self.port + 1),
                    MBH_CLUSTER_REGISTRIES=" ".join(f"{r.address}={r.storage}" for r in self.registries))

    @property
    def app(self) -> str:
        """Where the ingress controller serves (Host: the app's host name)."""
        return f"http://127.0.0.1:{self.ingress_port}"

    def show(self) -> dict[str, str]:
        """The cluster's addresses (cluster.sh show: hostIP, nodeIP, podCIDR, serviceCIDR, ...)."""
        return json.loads(run(["bash", str(CLUSTER_SCRIPT), "show"], env=self._script_env()).stdout)

    def stack_settings(self, stack: str = "dev") -> dict[str, Any]:
        """What `make up` merges into a stack's config on this cluster (cluster.sh config STACK)."""
        return json.loads(run(["bash", str(CLUSTER_SCRIPT), "config", stack], env=self._script_env()).stdout)

    def make_env(self, state: Path, stack: str = "dev") -> dict[str, str]:
        """The environment of `make up|preview|down` on a project copy: this cluster, a file
        backend at `state`, the built toolchain, and none of the caller's own stack settings."""
        env = dict(self._script_env(), PULUMI_BACKEND_URL=f"file://{state}", MBH_PULUMI="built", STACK=stack)
        for unset in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "KUBE_CONTEXT", "MBH_BASE_IMAGES"):
            env.pop(unset, None)
        return env

    def start(self) -> None:
        run(["bash", str(CLUSTER_SCRIPT), "start"], env=self._script_env(), timeout=600)

    def restart_kubelet(self) -> str:
        """`cluster.sh restart-kubelet`: what it said."""
        done = run(["bash", str(CLUSTER_SCRIPT), "restart-kubelet"], env=self._script_env(), timeout=300)
        return done.stdout + done.stderr

    def stop(self) -> None:
        # A stop that fails says so, with what cluster.sh said (it once left the control plane up).
        run(["bash", str(CLUSTER_SCRIPT), "stop"], env=self._script_env(), timeout=300)

    @property
    def kubeconfig(self) -> Path:
        out = run(["bash", str(CLUSTER_SCRIPT), "kubeconfig"], env=self._script_env())
        return Path(out.stdout.strip())

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], env=self.env, check=check,
                   timeout=timeout, input=input)

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        return json.loads(self.kubectl(*args).stdout)

    def objects(self, namespace: str, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """Every object of `kinds` in `namespace` (plus the namespace itself when asked for)."""
        items: list[dict[str, Any]] = []
        for kind in kinds:
            if kind == "namespaces":
                got = self.kubectl("get", "namespace", namespace, "-o", "json", check=False)
                if got.returncode == 0:
                    items.append(json.loads(got.stdout))
                continue
            items += self.get(kind, namespace=namespace)["items"]
        return items


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """A pod that serves: its Ready condition true, and its deletion not begun."""
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
    return pod["metadata"].get("deletionTimestamp") is None and conditions.get("Ready") == "True"


def copy_checkout(dest: Path) -> Path:
    """The working tree as it is (tracked + untracked, not ignored files), with the venv linked."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO_ROOT / rel
        if not src.exists() or src.is_dir():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    (dest / ".venv").symlink_to(REPO_ROOT / ".venv")
    return dest


def link_policy_venv(copy: Path, env: Mapping[str, str]) -> None:
    """The policy pack's virtualenv (`make policy-venv`, made once in the checkout) in a project copy."""
    venv = REPO_ROOT / "policy" / "venv"
    if not (venv / "bin" / "python").exists():
        make("policy-venv", REPO_ROOT, env)
    if not (copy / "policy" / "venv").exists():
        (copy / "policy" / "venv").symlink_to(venv)


@dataclass
class Stack:
    """One stack of a project copy, with its own state backend; every call runs the real CLI."""

    project: Path
    name: str
    env: dict[str, str]
    passphrase: str
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        backend = self.env.get("PULUMI_BACKEND_URL", "")
        if not backend.startswith("file://"):
            backend = f"file://{self.project.parent / f'state-{self.project.name}'}"
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        self.env = dict(self.env, PULUMI_BACKEND_URL=backend, PULUMI_CONFIG_PASSPHRASE=self.passphrase)
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)

    @property
    def state_dir(self) -> Path:
        return Path(self.env["PULUMI_BACKEND_URL"].removeprefix("file://"))

    def pulumi(self, *args: str, check: bool = True, timeout: float = 1200,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full = ["pulumi", *args, "--non-interactive"]
        started = time.monotonic()
        proc = run(full, env={**self.env, **(env or {})}, cwd=self.project, check=False, timeout=timeout)
        self.log.append(f"$ {' '.join(full)}  # rc={proc.returncode} in {time.monotonic() - started:.1f}s")
        if check and proc.returncode != 0:
            raise CommandFailed(full, proc)
        return proc

    def init(self) -> None:
        self.pulumi("stack", "select", "--create", self.name)

    def config_set(self, key: str, value: str, *, secret: bool = False, path: bool = False) -> None:
        args = ["config", "set", "--stack", self.name, *(["--secret"] if secret else []),
                *(["--path"] if path else []), key]
        proc = run(["pulumi", *args, "--non-interactive"], env=self.env, cwd=self.project, input=value + "\n",
                   check=False)
        if proc.returncode != 0:
            raise CommandFailed(["pulumi", *args], proc)

    def up(self, *extra: str, check: bool = True, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        return self.pulumi("up", "--stack", self.name, "--yes", "--skip-preview", *extra, check=check,
                           timeout=timeout)

    def preview(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pulumi("preview", "--stack", self.name, "--diff", *extra, check=check)

    def destroy(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pulumi("destroy", "--stack", self.name, "--yes", "--skip-preview", *extra, check=check)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--stack", self.name, "--json", *(["--show-secrets"] if show_secrets else [])]
        return json.loads(self.pulumi(*args).stdout or "{}")

    def export(self) -> dict[str, Any]:
        """The stack's state as the engine stored it (`pulumi stack export`)."""
        return json.loads(self.pulumi("stack", "export", "--stack", self.name).stdout)

    def resources(self) -> list[dict[str, Any]]:
        return self.export()["deployment"].get("resources") or []

    def state_files_text(self) -> str:
        """Every byte the backend wrote for this project (state, history, backups), as text."""
        chunks = []
        for path in sorted(self.state_dir.rglob("*")):
            if path.is_file():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(chunks)


@dataclass
class Registry(Started):
    """A registry of one test's own (Debian's docker-registry, as tools/machine/docker-engine.sh runs the
    project's), on a loopback port, with storage that can be emptied: "a new cluster's registry"."""

    storage: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.storage.parent / f"registry-{self.port}.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        log = open(self.storage.parent / f"registry-{self.port}.log", "ab")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer on {self.address} (log {log.name})")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def empty(self) -> None:
        """Stop, drop every stored blob and manifest, start again: an empty registry."""
        self.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        self.start()

    def answers(self) -> bool:
        return self._status(f"http://{self.address}/v2/") == 200

    def has(self, ref: str) -> bool:
        """Whether this registry serves `<address>/<repo>@sha256:…`'s manifest."""
        name, digest = ref.split("@", 1)
        host, repo = name.split("/", 1)
        if host != self.address:
            return False
        return self._status(f"http://{self.address}/v2/{repo}/manifests/{digest}", head=True) == 200

    def _status(self, url: str, head: bool = False) -> int | None:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, method="HEAD" if head else "GET", headers={"Accept": ", ".join(MANIFEST_TYPES)})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None


MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


_UNSET = object()


def set_stack_value(project: Path, stack: str, key: str, value: Any = _UNSET) -> None:
    """Set `mbhealth:<key>` (a dotted path into objects) in the project copy's tracked stack file,
    as a developer edits it; with no value, remove the key."""
    import yaml

    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    node = document.setdefault("config", {})
    parts = key.split(".")
    top = f"mbhealth:{parts[0]}"
    if len(parts) > 1:
        node = node.setdefault(top, {})
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
    leaf = parts[-1] if len(parts) > 1 else top
    if value is _UNSET:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@dataclass
class Deployed:
    project: Path
    env: dict[str, str]
    stack: Stack
    cluster: LocalCluster

    def up(self, check: bool = True):
        return make("up", self.project, self.env, check=check)

    def images(self) -> dict[str, str]:
        return self.stack.outputs()["images"]

    def get(self, kind: str, name: str) -> dict:
        return self.cluster.get(kind, name, namespace=DEV_NAMESPACE)

    def jobs(self, name: str) -> list[dict]:
        items = self.cluster.get("jobs", namespace=DEV_NAMESPACE)["items"]
        return [j for j in items if j["metadata"]["labels"].get("app.kubernetes.io/name") == name]

    def pods(self, name: str) -> list[dict]:
        items = self.cluster.get("pods", namespace=DEV_NAMESPACE)["items"]
        return [p for p in items if p["metadata"]["labels"].get("app.kubernetes.io/name") == name]

    def change_backend_code(self, marker: str) -> None:
        init = self.project / "apps" / "backend" / "mbhealth" / "__init__.py"
        init.write_text(init.read_text() + f"\n# release marker: {marker}\n")

    def break_migration(self, broken: bool) -> None:
        """Add (or remove) a migration whose upgrade fails against the real PostgreSQL: the backend
        image changes, and its migrate Job fails for real."""
        path = self.project / "apps" / "backend" / "mbhealth" / "migrations" / "versions" / "0003_fails_on_purpose.py"
        if broken:
            path.write_text(REFUSED_MIGRATION)
        else:
            path.unlink(missing_ok=True)

    def smoke_timeout(self, seconds: int) -> None:
        """The smoke test's deadline in this project copy (components/smoke_test.py): a release meant to
        fail its smoke test fails in `seconds`, not the product's three minutes."""
        path = self.project / "components" / "smoke_test.py"
        text, count = re.subn(r"^SMOKE_TIMEOUT_SECONDS = \d+$", f"SMOKE_TIMEOUT_SECONDS = {seconds}", path.read_text(),
                              flags=re.MULTILINE)
        assert count == 1, "components/smoke_test.py no longer sets SMOKE_TIMEOUT_SECONDS"
        path.write_text(text)

    def cut_flow(self, source: str, target: str, cut: bool) -> None:
        """Drop (or restore) one flow of the application's NetworkPolicies (components/network_policy.py):
        kube-router enforces what is left, so whatever needs that flow fails for real."""
        path = self.project / "components" / "network_policy.py"
        text = path.read_text()
        port = {"backend": "BACKEND_API.port", "frontend": "FRONTEND_WEB.port"}.get(target)
        line = f'        Flow("{source}", "{target}"' + (f", {port}" if port else "") + "),\n"
        old, new = (line, "") if cut else ("    return [\n", "    return [\n" + line)
        assert (line in text) == cut, f"components/network_policy.py: flow {source} -> {target} present: {line in text}"
        path.write_text(text.replace(old, new, 1))
