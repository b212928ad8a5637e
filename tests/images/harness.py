"""Shared pieces of the real-image suite: the test version, the fixture image spec, the builder,
and a release run container by container (used by the tests and by bench/reliability.py)."""

from __future__ import annotations

import copy
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_images

from components.build_specs import IMAGE_BUILDS, ImageBuildSpec
from scripts.synth import SynthResult, reveal
from tests.images import kubelet

# The VERSION build arg of every image the suite builds (its label must carry it).
TEST_VERSION = "9.8.7-imagetest"

# The throwaway image the infrastructure is tested with (not one of the app images).
PROBE_APP = ImageBuildSpec(
    name="probe-app",
    context="tests/images/fixtures/probe-app",
    dockerfile="tests/images/fixtures/probe-app/Dockerfile",
    target="production",
    base_image_arg_names=("PYTHON_IMAGE",),
)



class ImageBuilder:
    """Builds each (spec, target) once per session; a failed build fails every test using it."""

    def __init__(self, standins: dict[str, str], version: str = TEST_VERSION):
        self.standins = standins
        self.version = version
        self._results: dict[tuple[str, str], object] = {}

    def get(self, name: str, target: str | None = None, spec: ImageBuildSpec | None = None) -> build_images.Built:
        spec = spec or IMAGE_BUILDS[name]
        target = target or spec.target
        key = (spec.name, target)
        if key not in self._results:
            try:
                self._results[key] = build_images.build(
                    spec, version=self.version, target=target, standins=self.standins, push_image=True)
            except build_images.BuildError as exc:
                self._results[key] = exc
        result = self._results[key]
        if isinstance(result, build_images.BuildError):
            pytest.fail(str(result), pytrace=False)
        return result  # type: ignore[return-value]

    def built(self) -> dict[tuple[str, str], build_images.Built]:
        return {k: v for k, v in self._results.items() if isinstance(v, build_images.Built)}


# --------------------------------------------------------------------------- a release, run here

# The app's Services: the pods reach them by name (hostAliases -> 127.0.0.1, the cluster DNS here).
APP_SERVICES = {"backend": 8000, "frontend": 8080}


class Release:
    """One stack's release, run container by container on this machine (tests/images/kubelet.py).

    Each container is the synthesized pod spec's, with the test's Secret values. For a pod
    that must not take its Deployment's port (a second replica, a suite beside another one on
    the shared host network), `container(..., port=N, env={...})` moves its `http` containerPort
    (and so its probes) to N; the env entries (e.g. PORT=N, which the images listen on) are
    added after envFrom, as a pod's own `env` would be.
    """

    def __init__(self, synth: SynthResult, real_images: dict[str, str], database_url: str, redis_url: str):
        self.synth = synth
        self.real_images = real_images
        self.namespace = synth.exports["namespace"]
        self.config_maps = {cm.object_name: reveal(cm.manifest)["data"] for cm in synth.of_kind("ConfigMap")}
        self.secret_values = {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                              "SECRET_KEY": "conformance-" + secrets.token_urlsafe(32)}
        # Test secrets under the synthesized Secret's own name and keys.
        self.secrets = {}
        for secret in synth.of_kind("Secret"):
            keys = set(reveal(secret.manifest).get("stringData") or {})
            if keys == set(self.secret_values):
                self.secrets[secret.object_name] = dict(self.secret_values)
        assert self.secrets, "no Secret with the backend's keys was synthesized"
        self.stack = ExitStack()

    def pod(self, kind: str, name: str) -> dict[str, Any]:
        pod = copy.deepcopy(reveal(self.synth.get(kind, name).manifest)["spec"]["template"]["spec"])
        hostnames = [h for svc in APP_SERVICES for h in (svc, f"{svc}.{self.namespace}", f"{svc}.{self.namespace}.svc.cluster.local")]
        pod["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": hostnames}]
        return pod

    def image_for(self, container: dict[str, Any]) -> str:
        repository, digest = container["image"].split("@sha256:")
        assert len(digest) == 64, container["image"]  # deployed by digest, never by tag
        name = repository.rsplit("/", 1)[1]
        return self.real_images[name]

    def env_value(self, kind: str, name: str, key: str) -> str | None:
        """What a synthesized container's environment sets `key` to (ConfigMap/Secret via envFrom)."""
        (spec,) = self.pod(kind, name)["containers"]
        return kubelet.resolve_env(spec, config_maps=self.config_maps, secrets=self.secrets).get(key)

    def container(self, kind: str, name: str, keep: bool = True, args: list[str] | None = None,
                  port: int | None = None, env: dict[str, str] | None = None,
                  name_prefix: str = "mbh-kubelet") -> kubelet.Container:
        pod = self.pod(kind, name)
        (spec,) = pod["containers"]
        if args is not None:
            spec["args"] = args
        if port is not None:
            (http_port,) = [p for p in spec.get("ports") or [] if p.get("name") == "http"]
            http_port["containerPort"] = port
        if env:
            spec["env"] = [*(spec.get("env") or []), *({"name": k, "value": v} for k, v in env.items())]
        running = kubelet.Container(spec, pod_spec=pod, image=self.image_for(spec),
                                    config_maps=self.config_maps, secrets=self.secrets,
                                    pod_fields={"metadata.namespace": self.namespace}, name_prefix=name_prefix)
        running.start()
        if keep:
            self.stack.callback(running.remove)
        return running

    def run_job(self, name: str, args: list[str] | None = None) -> tuple[int, str, float]:
        """Run a synthesized Job's container to completion (optionally with other args)."""
        job = reveal(self.synth.get("Job", name).manifest)
        deadline = job["spec"]["activeDeadlineSeconds"]
        running = self.container("Job", name, keep=False, args=args)
        try:
            started = time.monotonic()
            while running.running():
                if time.monotonic() - started > deadline:
                    raise AssertionError(f"Job {name} ran past activeDeadlineSeconds={deadline}:\n{running.logs(50)}")
                time.sleep(0.2)
            return running.state()["ExitCode"], running.logs(), time.monotonic() - started
        finally:
            running.remove()

    def close(self) -> None:
        self.stack.close()


def http(url: str, method: str = "GET", body: Any = None, timeout: float = 10) -> tuple[int, Any, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status, headers = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, dict(exc.headers)
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, raw.decode(errors="replace"), headers
