"""An HPA scales the backend on real metrics (metrics-server reading the kubelet) under a bounded
load through the ingress, on the session's dev stack with `autoscaling` set; then back to one
replica."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from tests.e2e import engine
from tests.e2e.engine import Deployed
from tests.support.load import Load

RATE = 30.0  # requests/s: far above what 50% of the backend's 100m CPU request serves
LOAD_SECONDS = 240.0  # at most; the load stops as soon as the HPA has scaled


def _hpa(deployed: Deployed) -> dict:
    return deployed.get("hpa", "backend")


def test_the_backend_scales_out_on_cpu_under_load(deployed: Deployed) -> None:
    engine.set_stack_value(deployed.project, "dev", "services.backend.replicas")
    engine.set_stack_value(deployed.project, "dev", "services.backend.autoscaling",
                           {"minReplicas": 1, "maxReplicas": 3, "cpuUtilization": 50})
    try:
        deployed.up()
        deadline = time.monotonic() + 120  # metrics-server's first scrape of the new pods, the HPA's sync
        while not _hpa(deployed).get("status", {}).get("currentMetrics"):
            assert time.monotonic() < deadline, f"the HPA has no metrics: {_hpa(deployed).get('status')}"
            time.sleep(3)
        assert _hpa(deployed)["status"]["desiredReplicas"] == 1

        scaled = threading.Event()
        host = urlsplit(deployed.stack.outputs()["url"]).hostname
        load = Load(f"http://127.0.0.1:{deployed.cluster.ingress_port}", RATE, LOAD_SECONDS, until=None,
                    host_header=host).start()
        try:
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline:
                status = _hpa(deployed).get("status", {})
                ready = [p for p in deployed.pods("backend") if engine.pod_ready(p)]
                if status.get("desiredReplicas", 1) >= 2 and len(ready) >= 2:
                    scaled.set()
                    break
                time.sleep(3)
        finally:
            load.stop()
        assert scaled.is_set(), f"the backend did not scale out under load: {_hpa(deployed).get('status')}"
        cpu = [m for m in _hpa(deployed)["status"]["currentMetrics"] if m["type"] == "Resource"]
        assert cpu and cpu[0]["resource"]["current"]["averageUtilization"] > 0, cpu
    finally:
        # Autoscaling off (README "Secure defaults"): the first `up` removes the HPA, which may write
        # its own count back before it is deleted; the second, with --refresh, takes the count back.
        engine.set_stack_value(deployed.project, "dev", "services.backend.autoscaling")
        engine.set_stack_value(deployed.project, "dev", "services.backend.replicas", 1)
        deployed.up()
        hpas = deployed.cluster.get("hpa", namespace=engine.DEV_NAMESPACE)["items"]
        assert [h["metadata"]["name"] for h in hpas] == [], "the first `up` removes the HPA"
        # What the HPA does when it syncs in that gap (here for sure): a count through the scale subresource.
        deployed.cluster.kubectl("scale", "deployment", "backend", "-n", engine.DEV_NAMESPACE, "--replicas", "2")
        engine.make("up", deployed.project, deployed.env, "PULUMI_ARGS=--refresh")
    assert deployed.get("deployment", "backend")["spec"]["replicas"] == 1
