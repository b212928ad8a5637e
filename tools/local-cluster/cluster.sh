#!/usr/bin/env bash
# A local Kubernetes cluster on this machine for MBHealth: a control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler as plain processes) and one real node (containerd,
# kubelet, kube-proxy, kube-router's NetworkPolicy firewall, CoreDNS, metrics-server,
# local-path storage, Traefik as the ingress controller), all built from Go modules and Debian
# packages. Pods run for real, in a network namespace of the node's own; nothing they send can
# leave the machine (tools/local-cluster/cluster/netns.py). The code: tools/local-cluster/cluster/.
#
# Usage: tools/local-cluster/cluster.sh start|stop|status|env|kubeconfig|config|load-images|restart-kubelet
#   start       start the cluster (or say it already runs) and wait until the API server answers,
#               the node is Ready and its add-ons serve; prints the time it took
#   stop        remove everything the cluster made: processes, containers, mounts, cgroups, rules,
#               its network namespace, the kernel settings the kubelet changed, its state
#   status      say whether it runs (exit 0) or not (exit 1), with server, node and app URL
#   env         print `export KUBECONFIG=...` (and PATH with the built kubectl) for eval:
#                 eval "$(tools/local-cluster/cluster.sh env)"
#   kubeconfig  print the admin kubeconfig's path (context mbhealth-local)
#   config [STACK]  print, as JSON, the settings STACK (default dev) needs on this cluster beside its
#               stack file's own: the ingress class, the controller on the host network, the app's
#               host (mbhealth.localhost for dev, <stack>.mbhealth.localhost for another) and ports
#   load-images ARCHIVE...  import `docker save` archives into the node (images no registry serves)
#   restart-kubelet  stop the node's kubelet and start it again (the pods keep running): a fault
#               the reliability benchmark injects
#
# Binaries: those built by `tools/engine/build.sh` (found through `--print-path`). Debian packages:
# `tools/machine/system-deps.sh node`. Needs root.
#
# Settings (environment):
#   MBH_CLUSTER_STATE  state folder; default /var/lib/mbhealth-cluster (kubeconfig, pki/, etcd/,
#                      logs/ (one per process), the node's configuration, volumes and images/ cache)
#   MBH_CLUSTER_PORT   the API server's port (default 26443), on the host's end of the node's link
#                      (10.213.<slot>.1); etcd uses the next two ports on 127.0.0.1
#   MBH_CLUSTER_INGRESS  where the ingress controller serves HTTP (default 127.0.0.1:80)
#   MBH_CLUSTER_INGRESS_TLS  ... and HTTPS, with the Ingresses' certificates (default 127.0.0.1:443)
#   MBH_CLUSTER_INGRESS_ADMIN  its ping port on 127.0.0.1 (default MBH_CLUSTER_PORT + 1)
#   MBH_CLUSTER_HOST   the app's host name on this cluster (default mbhealth.localhost: names under
#                      .localhost resolve to loopback through nss-myhostname)
#   MBH_CLUSTER_REGISTRIES  more registries on this machine the node pulls from, as
#                      127.0.0.1:PORT=STORAGE pairs separated by spaces, besides the project's
#                      (tools/machine/docker-engine.sh), which also serves as the node's mirror of Docker Hub
#   MBH_CLUSTER_TIMEOUT seconds start waits for each step (default 180)
#   MBH_CLUSTER_KEEP_FAILED  set: a failed start leaves what it made, for inspection
# The user's ~/.kube/config and current context are never read or changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools_path=$("$root/tools/engine/build.sh" --print-path)
export PATH="${tools_path:+$tools_path:}$PATH"
if [ "${1:-}" = env ]; then
  python3 "$here/cluster" env
  [ -n "$tools_path" ] && echo "export PATH=$tools_path:\$PATH"
  exit 0
fi
exec python3 "$here/cluster" "$@"
