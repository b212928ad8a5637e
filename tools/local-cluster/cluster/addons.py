"""What a cluster offers its workloads, as the local node runs it (manifests applied with kubectl):

- CoreDNS in kube-system (`k8s-app: kube-dns`, Service `kube-dns` at the DNS IP the kubelet hands
  to pods): cluster names only, no forward plugin; non-root, nothing but port 53 via the pod's
  `net.ipv4.ip_unprivileged_port_start` (a namespaced, safe sysctl);
- metrics-server behind `v1beta1.metrics.k8s.io`, reading the kubelet with the cluster CA;
- local-path-provisioner (what kind runs) as the default StorageClass `standard`: a claim gets a
  folder under the node's state, made world-writable by a helper pod, as kind's are;
- the IngressClass `traefik` and the roles of the node's own users (kube-router, Traefik).
Upstream's manifests (coredns/deployment, metrics-server's components.yaml, local-path-storage.yaml)
are the model; images are the node's own (runtime.py), never pulled.
"""

from __future__ import annotations

import json
from pathlib import Path

from components import INGRESS_CLASS, INGRESS_CONTROLLER
from layout import LOCAL_IMAGE_PREFIX, Layout

COREDNS_IMAGE = f"{LOCAL_IMAGE_PREFIX}/coredns:1.15.0"
METRICS_SERVER_IMAGE = f"{LOCAL_IMAGE_PREFIX}/metrics-server:v0.8.0"
LOCAL_PATH_IMAGE = f"{LOCAL_IMAGE_PREFIX}/local-path-provisioner:v0.0.30"
HELPER_IMAGE = f"{LOCAL_IMAGE_PREFIX}/busybox:1.35.0"
KUBE_ROUTER_USER = "mbhealth:kube-router"
INGRESS_USER = "mbhealth:ingress-controller"

HARDENED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532}
POD_SECURITY = {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True}


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict:
    meta: dict = {"name": name, "labels": {"app.kubernetes.io/part-of": "mbhealth-local-node", **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _role(name: str, rules: list[dict], subject: dict) -> list[dict]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(name), "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [subject]},
    ]


def _sa(name: str, namespace: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _user(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


READ = ["get", "list", "watch"]


def node_users() -> list[dict]:
    return [
        *_role("mbhealth:kube-router", [
            _rule([""], ["namespaces", "pods", "services", "nodes", "endpoints"], READ),
            _rule(["networking.k8s.io"], ["networkpolicies"], READ),
            _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        ], _user(KUBE_ROUTER_USER)),
        *_role("mbhealth:ingress-controller", [
            _rule([""], ["services", "endpoints", "secrets", "nodes"], READ),
            _rule(["discovery.k8s.io"], ["endpointslices"], READ),
            _rule(["networking.k8s.io", "extensions"], ["ingresses", "ingressclasses"], READ),
            _rule(["networking.k8s.io", "extensions"], ["ingresses/status"], ["update"]),
        ], _user(INGRESS_USER)),
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": _meta(INGRESS_CLASS),
         "spec": {"controller": INGRESS_CONTROLLER}},
    ]


def _deployment(name: str, namespace: str, labels: dict, container: dict, sa: str, volumes: list | None = None,
                sysctls: list | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace, **labels),
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "serviceAccountName": sa, "priorityClassName": "system-cluster-critical",
                     "securityContext": {**POD_SECURITY, **({"sysctls": sysctls} if sysctls else {})},
                     "containers": [{"imagePullPolicy": "Never", "securityContext": HARDENED, **container}],
                     "volumes": volumes or []}}},
    }


def coredns(layout: Layout) -> list[dict]:
    labels = {"k8s-app": "kube-dns"}
    corefile = (".:53 {\n    errors\n    health :8080\n    ready :8181\n"
                "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                "        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n    }\n"
                "    cache 30\n}\n")
    port = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("coredns", "kube-system")},
        *_role("mbhealth:coredns", [_rule([""], ["endpoints", "services", "pods", "namespaces"], ["list", "watch"]),
                                    _rule(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"])],
               _sa("coredns", "kube-system")),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("coredns", "kube-system"), "data": {"Corefile": corefile}},
        _deployment("coredns", "kube-system", labels, {
            "name": "coredns", "image": COREDNS_IMAGE, "args": ["-conf", "/etc/coredns/Corefile"], "ports": port,
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
            "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10, "failureThreshold": 5},
        }, "coredns", volumes=[{"name": "config", "configMap": {"name": "coredns"}}],
            sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}]),
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("kube-dns", "kube-system", **labels),
         "spec": {"clusterIP": layout.dns_ip, "selector": labels,
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
    ]


def metrics_server() -> list[dict]:
    labels = {"k8s-app": "metrics-server"}
    ns = "kube-system"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("metrics-server", ns)},
        *_role("system:metrics-server", [_rule([""], ["nodes/metrics"], ["get"]),
                                         _rule([""], ["pods", "nodes"], READ)], _sa("metrics-server", ns)),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {**_meta("system:aggregated-metrics-reader"),
                      "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true",
                                 "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                                 "rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
         "rules": [_rule(["metrics.k8s.io"], ["pods", "nodes"], READ)]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta("metrics-server-auth-reader", ns),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "extension-apiserver-authentication-reader"},
         "subjects": [_sa("metrics-server", ns)]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta("metrics-server:system:auth-delegator"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
         "subjects": [_sa("metrics-server", ns)]},
        _deployment("metrics-server", ns, labels, {
            "name": "metrics-server", "image": METRICS_SERVER_IMAGE,
            "args": ["--cert-dir=/tmp", "--secure-port=10250", "--kubelet-preferred-address-types=InternalIP",
                     "--kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                     "--metric-resolution=15s", "--kubelet-use-node-status-port"],
            "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/livez", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 10},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }, "metrics-server", volumes=[{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]),
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("metrics-server", ns, **labels),
         "spec": {"selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": _meta("v1beta1.metrics.k8s.io"),
         "spec": {"service": {"name": "metrics-server", "namespace": ns}, "group": "metrics.k8s.io", "version": "v1beta1",
                  "insecureSkipTLSVerify": True, "groupPriorityMinimum": 100, "versionPriority": 100}},
    ]


# The provisioner runs its helper pods under this name (its --service-account-name default).
LOCAL_PATH_SA = "local-path-provisioner-service-account"
SETUP = '#!/bin/sh\nset -eu\n/bin/busybox mkdir -m 0777 -p "$VOL_DIR"\n'
TEARDOWN = '#!/bin/sh\nset -eu\n/bin/busybox rm -rf "$VOL_DIR"\n'


def local_path(layout: Layout) -> list[dict]:
    ns = "local-path-storage"
    labels = {"app": "local-path-provisioner"}
    helper = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "helper-pod"},
              "spec": {"priorityClassName": "system-node-critical",
                       "containers": [{"name": "helper-pod", "image": HELPER_IMAGE, "imagePullPolicy": "Never"}]}}
    config = {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [str(layout.volumes)]}]}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(LOCAL_PATH_SA, ns)},
        *_role("mbhealth:local-path-provisioner", [
            _rule([""], ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"], READ),
            _rule([""], ["persistentvolumes"], [*READ, "create", "patch", "update", "delete"]),
            _rule([""], ["events"], ["create", "patch"]),
            _rule([""], ["pods"], ["create", "delete"]),
            _rule(["storage.k8s.io"], ["storageclasses"], READ),
        ], _sa(LOCAL_PATH_SA, ns)),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("local-path-config", ns),
         "data": {"config.json": json.dumps(config), "setup": SETUP, "teardown": TEARDOWN,
                  "helperPod.yaml": json.dumps(helper)}},
        _deployment("local-path-provisioner", ns, labels, {
            "name": "local-path-provisioner", "image": LOCAL_PATH_IMAGE,
            "args": ["start", "--config", "/etc/config/config.json", "--helper-image", HELPER_IMAGE],
            "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"}],
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/config/"}],
        }, LOCAL_PATH_SA, volumes=[{"name": "config", "configMap": {"name": "local-path-config"}}]),
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {**_meta("standard"), "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"},
    ]


def manifests(layout: Layout) -> list[dict]:
    return [*node_users(), *coredns(layout), *metrics_server(), *local_path(layout)]


def write(layout: Layout) -> Path:
    path = layout.dir("addons") / "addons.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests(layout)}, indent=1) + "\n")
    return path
