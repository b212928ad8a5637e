"""Secure pod defaults, probes, rollout and scaling, asserted on what each stack registers."""

from __future__ import annotations

import pytest

from components.build_specs import APP_GID, APP_UID, BACKEND_API, FRONTEND_WEB, WORKER
from components.quantity import parse_quantity
from components.security import PRESTOP_PAUSE_SECONDS
from scripts.synth import synthesize

APP_DEPLOYMENTS = ("backend", "worker", "frontend")
PROCESSES = {"backend": BACKEND_API, "worker": WORKER, "frontend": FRONTEND_WEB}


def pod_templates(result):
    """Every pod the stack would run: Deployments, StatefulSets and Jobs."""
    for kind in ("Deployment", "StatefulSet", "Job"):
        for resource in result.of_kind(kind):
            yield resource.object_name, resource.manifest["spec"]["template"]


def app_pod(result, name):
    return result.get("Deployment", name).manifest["spec"]["template"]


def container(result, name):
    (only,) = app_pod(result, name)["spec"]["containers"]
    return only


def test_every_pod_is_hardened(stack):
    pods = list(pod_templates(stack))
    assert len(pods) >= 4
    for name, template in pods:
        spec = template["spec"]
        pod_ctx = spec["securityContext"]
        assert pod_ctx["runAsNonRoot"] is True, name
        assert pod_ctx["runAsUser"] > 0 and pod_ctx["runAsGroup"] > 0, name
        assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            where = f"{name}, container {c['name']!r}"
            fix = "the defaults live in components/security.py"
            ctx = c.get("securityContext") or {}
            assert ctx.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem writable; {fix}"
            assert ctx.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed; {fix}"
            assert ctx.get("capabilities") == {"drop": ["ALL"]}, f"{where}: capabilities not all dropped; {fix}"
            assert ctx.get("runAsNonRoot") is True, f"{where}: runAsNonRoot not set; {fix}"
            for kind in ("requests", "limits"):
                missing = {"cpu", "memory", "ephemeral-storage"} - set((c.get("resources") or {}).get(kind) or {})
                assert not missing, (f"{where}: resources.{kind} lacks {sorted(missing)}; set them in "
                                     "components/workload.py container_resources (sized by mbhealth:services)")
            # Every writable path is an emptyDir with a size limit.
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for mount in c.get("volumeMounts", []):
                if mount["name"] in volumes:
                    assert volumes[mount["name"]]["emptyDir"]["sizeLimit"], (name, mount)


@pytest.mark.parametrize("name", APP_DEPLOYMENTS)
def test_app_pods_run_as_the_images_numeric_user(stack, name):
    pod = app_pod(stack, name)["spec"]
    assert pod["securityContext"]["runAsUser"] == APP_UID >= 10000
    assert pod["securityContext"]["runAsGroup"] == APP_GID >= 10000
    assert container(stack, name)["securityContext"]["runAsUser"] == APP_UID


@pytest.mark.parametrize("name", APP_DEPLOYMENTS)
def test_tmp_is_the_only_writable_path_and_fits_ephemeral_storage(stack, name):
    pod = app_pod(stack, name)["spec"]
    c = container(stack, name)
    assert [m["mountPath"] for m in c["volumeMounts"]] == list(PROCESSES[name].writable_paths) == ["/tmp"]
    (volume,) = pod["volumes"]
    size = parse_quantity(volume["emptyDir"]["sizeLimit"])
    assert size <= parse_quantity(c["resources"]["limits"]["ephemeral-storage"])


@pytest.mark.parametrize("name", APP_DEPLOYMENTS)
def test_liveness_is_never_the_readiness_check(stack, name):
    c = container(stack, name)
    assert c["readinessProbe"] and c["livenessProbe"]
    strip = lambda probe: {k: v for k, v in probe.items() if k in ("httpGet", "exec", "tcpSocket")}  # noqa: E731
    assert strip(c["readinessProbe"]) != strip(c["livenessProbe"])


def test_backend_probes(stack):
    c = container(stack, "backend")
    assert c["readinessProbe"]["httpGet"] == {"path": "/api/v1/health/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/api/v1/health/live", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    assert budget >= 60
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_worker_probes_ping_its_own_node_and_liveness_ignores_the_broker(stack):
    c = container(stack, "worker")
    assert c["command"] == ["python", "-m", "mbhealth", "worker"]
    assert c["readinessProbe"]["exec"]["command"] == ["python", "-m", "mbhealth", "probe", "worker-ready"]
    assert c["livenessProbe"]["exec"]["command"] == ["python", "-m", "mbhealth", "probe", "worker-alive"]
    assert "ports" not in c


def test_frontend_probes(stack):
    c = container(stack, "frontend")
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert "command" not in c  # the image's entrypoint renders nginx's config into /tmp


@pytest.mark.parametrize("name", APP_DEPLOYMENTS)
def test_shutdown_pause_and_grace_period(stack, name):
    pod = app_pod(stack, name)["spec"]
    c = container(stack, name)
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": PRESTOP_PAUSE_SECONDS}}}
    assert pod["terminationGracePeriodSeconds"] > PRESTOP_PAUSE_SECONDS + PROCESSES[name].drain_seconds


def test_worker_grace_exceeds_its_soft_shutdown(stack):
    assert app_pod(stack, "worker")["spec"]["terminationGracePeriodSeconds"] > WORKER.drain_seconds + PRESTOP_PAUSE_SECONDS


def test_prod_rolls_out_without_losing_capacity_and_spreads_across_nodes(prod, dev):
    for name in APP_DEPLOYMENTS:
        spec = prod.get("Deployment", name).manifest["spec"]
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
        dev_spec = dev.get("Deployment", name).manifest["spec"]
        assert "topologySpreadConstraints" not in dev_spec["template"]["spec"]


def test_hpa_owns_the_replica_count_in_prod(prod):
    hpas = {h.object_name: h.manifest["spec"] for h in prod.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == set(APP_DEPLOYMENTS)
    for name, hpa in hpas.items():
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] >= hpa["minReplicas"]
        assert "replicas" not in prod.get("Deployment", name).manifest["spec"]


def test_dev_has_fixed_replicas_and_no_hpa_or_pdb(dev):
    assert dev.of_kind("HorizontalPodAutoscaler") == []
    assert dev.of_kind("PodDisruptionBudget") == []
    for name in APP_DEPLOYMENTS:
        assert dev.get("Deployment", name).manifest["spec"]["replicas"] == 1


def test_every_workload_object_lets_its_declared_fields_win_over_another_manager(stack):
    """A `kubectl scale`/`set image`/`rollout undo` takes fields from Pulumi's field manager; the
    next `up` that changes the object must win them back instead of failing on a conflict
    (tests/e2e/test_releases.py proves it on the real node)."""
    from components.field_ownership import PATCH_FORCE_ANNOTATION

    workloads = [*stack.of_kind("Deployment"), *stack.of_kind("StatefulSet")]
    assert {w.object_name for w in workloads} >= set(APP_DEPLOYMENTS)
    for workload in workloads:
        annotations = workload.manifest["metadata"].get("annotations", {})
        assert annotations.get(PATCH_FORCE_ANNOTATION) == "true", workload.object_name


def test_prod_pdbs_select_their_pods(prod):
    pdbs = {p.object_name: p.manifest["spec"] for p in prod.of_kind("PodDisruptionBudget")}
    assert set(pdbs) == set(APP_DEPLOYMENTS)
    for name, pdb in pdbs.items():
        assert pdb["minAvailable"] == 1
        assert pdb["selector"]["matchLabels"] == prod.get("Deployment", name).manifest["spec"]["selector"]["matchLabels"]


def test_prod_runs_at_least_two_replicas(prod):
    for name in ("backend", "frontend"):
        hpa = prod.get("HorizontalPodAutoscaler", name).manifest["spec"]
        assert hpa["minReplicas"] >= 2


def test_hpa_without_pdb_and_replicas_without_hpa_are_configurable():
    result = synthesize("dev", remove=["services"],
                        overrides={"services": {"backend": {"replicas": 3, "minAvailable": 2},
                                                "worker": {"autoscaling": {"minReplicas": 1, "maxReplicas": 4}}}})
    assert result.get("Deployment", "backend").manifest["spec"]["replicas"] == 3
    assert result.get("PodDisruptionBudget", "backend").manifest["spec"]["minAvailable"] == 2
    assert "replicas" not in result.get("Deployment", "worker").manifest["spec"]
    assert result.get("HorizontalPodAutoscaler", "worker").manifest["spec"]["maxReplicas"] == 4


def test_requests_and_limits_come_from_stack_config(prod):
    c = container(prod, "worker")
    assert c["resources"]["requests"] == {"cpu": "250m", "memory": "384Mi", "ephemeral-storage": "64Mi"}
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "768Mi", "ephemeral-storage": "256Mi"}


def test_standard_labels_everywhere(stack):
    from components.labels import REQUIRED_LABELS

    for resource in stack.kubernetes():
        labels = resource.manifest["metadata"].get("labels", {})
        assert set(REQUIRED_LABELS) <= set(labels), (resource.kind, resource.object_name)
    for name, template in pod_templates(stack):
        assert set(REQUIRED_LABELS) <= set(template["metadata"]["labels"]), name


def test_services_target_named_ports(stack):
    for name, port in (("backend", 8000), ("frontend", 8080)):
        spec = stack.get("Service", name).manifest["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
        assert spec["selector"] == stack.get("Deployment", name).manifest["spec"]["selector"]["matchLabels"]
    assert [s for s in stack.of_kind("Service") if s.object_name == "worker"] == []
