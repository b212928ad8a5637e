"""The control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler, as plain
processes built from Go modules (tools/engine: etcd, kubernetes).

- etcd listens on the host's loopback only (no pod can reach it), its data in `<state>/etcd`;
- the API server listens on the host's end of the node's link (the node's components and pods
  reach it there; this machine's tools too), with RBAC and the Node authorizer, the default
  admission plugins (PodSecurity included) plus NodeRestriction; it reaches the kubelet with a
  client certificate of its own and checks the kubelet's against the cluster CA; it serves
  aggregated APIs (metrics-server) by dialing their pods and vouching for users with a
  front-proxy client certificate;
- the controller manager gives each controller its own service account, signs their tokens, and
  writes the node's pod CIDR into its spec (kube-router reads it); the scheduler places pods.
  Both are single instances (no leader election) and serve no port of their own.
"""

from __future__ import annotations

from pathlib import Path

import daemons
import pki
from layout import CLUSTER_DOMAIN, Layout

COMPONENTS = ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")  # stop order


def certificates(layout: Layout) -> None:
    """The cluster CA, the API server's serving certificate, the service-account key and the control
    plane's client identities (made once per cluster)."""
    p = layout.pki
    pki.ensure_ca(p)
    pki.sign(p, p, "apiserver", "kube-apiserver", usage="serverAuth", sans=(
        "kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
        "localhost", layout.host_ip, layout.kubernetes_service_ip))
    pki.sign(p, p, "admin", "mbhealth-admin", ("system:masters",))
    pki.sign(p, p, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",))
    pki.sign(p, p, "front-proxy-client", "front-proxy-client")
    pki.sign(p, p, "controller-manager", "system:kube-controller-manager")
    pki.sign(p, p, "scheduler", "system:kube-scheduler")
    if not (p / "sa.key").is_file():
        daemons.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(p / "sa.key")])
        daemons.run(["openssl", "ec", "-in", str(p / "sa.key"), "-pubout", "-out", str(p / "sa.pub")])
        (p / "sa.key").chmod(0o600)


def _kubeconfig(layout: Layout, name: str) -> Path:
    p = layout.pki
    return pki.kubeconfig(layout.dir("kubeconfigs") / f"{name}.json", layout.server, p / "ca.crt",
                          p / f"{name}.crt", p / f"{name}.key", name)


def start(layout: Layout) -> None:
    p, etcd_url = layout.pki, f"http://127.0.0.1:{layout.etcd_port}"
    peer_url = f"http://127.0.0.1:{layout.etcd_peer_port}"
    daemons.start(layout, "etcd", [
        "etcd", "--name=mbhealth", f"--data-dir={layout.dir('etcd')}",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=mbhealth={peer_url}", "--listen-metrics-urls=", "--auto-compaction-retention=1",
        "--unsafe-no-fsync=true",  # a throwaway cluster on one machine: speed over durability
    ], netns=False)
    daemons.start(layout, "kube-apiserver", [
        "kube-apiserver", f"--etcd-servers={etcd_url}",
        f"--bind-address={layout.host_ip}", f"--advertise-address={layout.host_ip}",
        f"--secure-port={layout.api_port}",
        f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
        f"--service-cluster-ip-range={layout.service_cidr}",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true", "--profiling=false",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={p / 'ca.crt'}", "--kubelet-preferred-address-types=InternalIP",
        "--enable-aggregator-routing=true",
        f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
        f"--requestheader-client-ca-file={p / 'ca.crt'}", "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    ], netns=False)
    daemons.start(layout, "kube-controller-manager", [
        "kube-controller-manager", f"--kubeconfig={_kubeconfig(layout, 'controller-manager')}",
        "--secure-port=0", "--leader-elect=false", "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
        f"--service-cluster-ip-range={layout.service_cidr}",
        "--allocate-node-cidrs=true", f"--cluster-cidr={layout.pod_cidr}", "--node-cidr-mask-size=24",
        "--node-monitor-grace-period=40s",
    ], netns=False)
    daemons.start(layout, "kube-scheduler", [
        "kube-scheduler", f"--kubeconfig={_kubeconfig(layout, 'scheduler')}", "--secure-port=0",
        "--leader-elect=false",
    ], netns=False)


def admin_kubeconfig(layout: Layout, context: str) -> Path:
    """The user's kubeconfig of this cluster: one context, certificates embedded."""
    p = layout.pki
    return pki.kubeconfig(layout.admin_kubeconfig, layout.server, p / "ca.crt", p / "admin.crt", p / "admin.key", context)


def stop(layout: Layout) -> None:
    for name in COMPONENTS:
        daemons.stop(layout, name, timeout=20)
