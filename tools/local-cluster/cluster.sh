#!/usr/bin/env bash
# A local Kubernetes control plane on loopback for MBHealth: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler run as plain processes (kwokctl --runtime binary),
# and kwok's controller fakes the nodes and the pods on them: nothing runs in a container, the
# pods' phases are played by kwok Stages (below).
#
# Usage: tools/local-cluster/cluster.sh start|stop|status|env|kubeconfig
#   start       create the cluster (or say it already runs) and wait until the API server answers
#               /readyz, the nodes are Ready and the default ServiceAccount exists; prints the time
#   stop        delete the cluster: stops every process, removes kwokctl's workdir and our kubeconfig
#   status      say whether it runs (exit 0) or not (exit 1), with server, version and nodes
#   env         print `export KUBECONFIG=...` (and PATH with the built kubectl) for eval:
#                 eval "$(tools/local-cluster/cluster.sh env)"
#   kubeconfig  print the kubeconfig's path
#
# Binaries: only those built by `tools/engine/build.sh etcd kubernetes kwok` (found through
# `tools/engine/build.sh --print-path`), each passed to kwokctl by path: kwokctl never downloads.
#
# Settings (environment):
#   MBH_CLUSTER_STATE  state directory; default /var/lib/mbhealth-cluster when root, else
#                      ${XDG_STATE_HOME:-~/.local/state}/mbhealth-cluster. Holds:
#                        kubeconfig         ours: context "mbhealth-local", certificates embedded
#                        kwokctl.yaml       the kwokctl configuration and Stages passed to create
#                        kwok/              kwokctl's own workdir (KWOK_WORKDIR): clusters/mbhealth
#                                           with pki/, logs/ (one per component), etcd data
#   MBH_CLUSTER_PORT   the API server's secure port on 127.0.0.1 (default 26443)
#   MBH_CLUSTER_NODES  number of fake nodes (default 2), named node-000000, node-000001, ...
#   MBH_CLUSTER_TIMEOUT seconds start waits for readiness (default 180)
# The user's ~/.kube/config and current context are never read or changed. Every component
# listens on 127.0.0.1 only.
#
# Pod behaviour (kwok Stages, v0.8.0 defaults plus one of ours):
#   - a scheduled pod becomes Running and Ready at once (so Deployments become Available);
#   - a Running pod owned by a Job becomes Succeeded (exit code 0) at once (so Jobs complete);
#   - a Running pod labelled  mbhealth.test/fail: "true"  becomes Failed (container exit code 1,
#     reason Error) instead: put the label in a Job's spec.template.metadata.labels to make that
#     Job fail (with backoffLimit: 0 it fails at the first pod);
#   - a deleted pod is removed at once (no kubelet to finalize it).
# Nodes offer 32 cpu, 256Gi memory, 200Gi ephemeral storage, 110 pods. A default StorageClass
# `standard` (the controller manager's hostPath provisioner) binds PersistentVolumeClaims.
# No container ever runs: `kubectl logs/exec/port-forward` have nothing to talk to.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
NAME=mbhealth
CONTEXT=mbhealth-local
if [ "$(id -u)" = 0 ]; then default_state=/var/lib/mbhealth-cluster
else default_state=${XDG_STATE_HOME:-$HOME/.local/state}/mbhealth-cluster; fi
STATE=${MBH_CLUSTER_STATE:-$default_state}
PORT=${MBH_CLUSTER_PORT:-26443}
NODES=${MBH_CLUSTER_NODES:-2}
TIMEOUT=${MBH_CLUSTER_TIMEOUT:-180}
KUBECONFIG_FILE=$STATE/kubeconfig
export KWOK_WORKDIR=$STATE/kwok
WORKDIR=$KWOK_WORKDIR/clusters/$NAME
# kwokctl adds a context to this file at create and removes it at delete; ours is KUBECONFIG_FILE.
KWOKCTL_KUBECONFIG=$KWOK_WORKDIR/kwokctl-kubeconfig

die() { echo "cluster: $*" >&2; exit 1; }
say() { echo "cluster: $*" >&2; }

[[ $PORT =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1024 ] && [ "$PORT" -le 65535 ] || die "MBH_CLUSTER_PORT=$PORT is not a port in 1024-65535"
[[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] || die "MBH_CLUSTER_NODES=$NODES is not a number >= 1"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "MBH_CLUSTER_TIMEOUT=$TIMEOUT is not a number of seconds"

# The built toolchain first on PATH; every binary the cluster runs must come from it.
tools_path=$("$root/tools/engine/build.sh" --print-path)
export PATH="${tools_path:+$tools_path:}$PATH"
need_tools() {
  local b p
  for b in kwokctl kwok etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    p=$(command -v "$b" 2>/dev/null) || true
    [ -n "$p" ] || die "$b is missing: run tools/engine/build.sh etcd kubernetes kwok"
    case ":$tools_path:" in
      *":$(dirname "$p"):"*) ;;
      *) die "$b is missing from the built toolchain (found only $p): run tools/engine/build.sh etcd kubernetes kwok" ;;
    esac
  done
  STAGES_DEFAULT=$(dirname "$(command -v kwokctl)")/../share/kwok/default-stages.yaml
  [ -f "$STAGES_DEFAULT" ] || die "kwok's default Stages are missing ($STAGES_DEFAULT): run tools/engine/build.sh kwok"
}

kwokctl_() { kwokctl --name "$NAME" "$@"; }
kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" --context "$CONTEXT" --cache-dir "$STATE/kube-cache" "$@"; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
api_ready() { [ -f "$KUBECONFIG_FILE" ] && kc get --raw /readyz --request-timeout=3s >/dev/null 2>&1; }
port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# The port our cluster was created with (kwokctl's saved configuration).
created_port() { sed -n 's/^ *kubeApiserverPort: *\([0-9]*\).*/\1/p' "$WORKDIR/kwok.yaml" 2>/dev/null | head -n1; }

# The cluster's processes: every component runs from the workdir (bin/ links) with paths in it.
procs_left() { pgrep -f -- "$WORKDIR/" | tr '\n' ' ' || true; }
procs_gone() { # wait up to 10 s
  local _
  for _ in $(seq 40); do
    [ -z "$(procs_left)" ] && return 0
    sleep 0.25
  done
  return 1
}

write_config() { # -> $STATE/kwokctl.yaml: kwokctl options, kwok's default Stages and ours
  local bin_k8s bin_etcd bin_kwok kube_version
  bin_k8s=$(dirname "$(command -v kube-apiserver)")
  bin_etcd=$(dirname "$(command -v etcd)")
  bin_kwok=$(dirname "$(command -v kwok)")
  kube_version=$(kube-apiserver --version | awk '{print $2}')
  {
    cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $kube_version
  bindAddress: 127.0.0.1
  kubeApiserverPort: $PORT
  securePort: true
  quietPull: true
  cacheDir: $KWOK_WORKDIR/cache
  # Every binary by path. The prefixes point at the same local folders so that nothing
  # kwokctl would derive from them could be a download either.
  kubeBinaryPrefix: $bin_k8s
  kubeApiserverBinary: $bin_k8s/kube-apiserver
  kubeControllerManagerBinary: $bin_k8s/kube-controller-manager
  kubeSchedulerBinary: $bin_k8s/kube-scheduler
  kubectlBinary: $bin_k8s/kubectl
  etcdBinaryPrefix: $bin_etcd
  etcdBinary: $bin_etcd/etcd
  etcdctlBinary: $bin_etcd/etcdctl
  kwokBinaryPrefix: $bin_kwok
  kwokControllerBinary: $bin_kwok/kwok
# One instance of each: no leader election, so a restart does not wait for the old lease to expire.
componentsPatches:
- name: kube-controller-manager
  extraArgs:
  - key: leader-elect
    value: "false"
  # The in-tree hostPath provisioner (meant for single-node test clusters): PersistentVolumeClaims
  # of the default StorageClass (created by start) bind, so StatefulSets with volumeClaimTemplates
  # schedule. Nothing mounts them: kwok runs no container.
  - key: enable-hostpath-provisioner
    value: "true"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
EOF
    cat "$STAGES_DEFAULT"
    cat <<'EOF'
---
# MBHealth: a Running pod labelled mbhealth.test/fail=true fails (exit code 1) instead of
# completing. Its weight (1) beats pod-complete's (none, 0), which matches the same Job pods.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mbhealth-pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["mbhealth.test/fail"]'
      operator: 'In'
      values:
      - 'true'
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  weight: 1
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: PodFailed
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: PodFailed
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 1
            finishedAt: {{ $now | Quote }}
            reason: Error
            message: "failed on purpose (label mbhealth.test/fail=true)"
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Failed
EOF
  } > "$STATE/kwokctl.yaml.tmp"
  mv "$STATE/kwokctl.yaml.tmp" "$STATE/kwokctl.yaml"
}

write_kubeconfig() { # our own kubeconfig, certificates embedded, context mbhealth-local
  local tmp=$STATE/kubeconfig.tmp pki=$WORKDIR/pki
  for f in ca.crt admin.crt admin.key; do [ -f "$pki/$f" ] || die "kwokctl made no $pki/$f (see $WORKDIR/logs)"; done
  rm -f "$tmp"
  kubectl config --kubeconfig "$tmp" set-cluster "$CONTEXT" --server "https://127.0.0.1:$PORT" \
    --certificate-authority "$pki/ca.crt" --embed-certs >/dev/null
  kubectl config --kubeconfig "$tmp" set-credentials "$CONTEXT-admin" \
    --client-certificate "$pki/admin.crt" --client-key "$pki/admin.key" --embed-certs >/dev/null
  kubectl config --kubeconfig "$tmp" set-context "$CONTEXT" --cluster "$CONTEXT" --user "$CONTEXT-admin" >/dev/null
  kubectl config --kubeconfig "$tmp" use-context "$CONTEXT" >/dev/null
  chmod 600 "$tmp"
  mv "$tmp" "$KUBECONFIG_FILE"
}

fail_start() { # one clear line, then where to look
  echo "cluster: start failed: $*" >&2
  if [ -d "$WORKDIR/logs" ]; then
    local f
    for f in "$WORKDIR"/logs/*.log; do
      [ -s "$f" ] || continue
      echo "--- last lines of $f" >&2
      tail -n 3 "$f" | cut -c1-300 >&2
    done
  fi
  [ -f "$STATE/kwokctl.log" ] && { echo "--- last lines of $STATE/kwokctl.log" >&2; tail -n 3 "$STATE/kwokctl.log" | cut -c1-300 >&2; }
  echo "cluster: logs in $WORKDIR/logs and $STATE/kwokctl.log; \`$0 stop\` cleans up" >&2
  exit 1
}

wait_ready() { # API /readyz, NODES Ready nodes, the default ServiceAccount
  local deadline=$((SECONDS + TIMEOUT)) ready
  until api_ready; do
    [ $SECONDS -lt $deadline ] || fail_start "the API server on 127.0.0.1:$PORT did not answer /readyz within ${TIMEOUT}s"
    sleep 0.5
  done
  while :; do
    ready=$(kc get nodes -o jsonpath='{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.status}{"\n"}{end}{end}' 2>/dev/null | grep -c '^True$' || true)
    [ "$ready" -ge "$NODES" ] && break
    [ $SECONDS -lt $deadline ] || fail_start "only $ready of $NODES nodes Ready within ${TIMEOUT}s"
    sleep 0.5
  done
  until kc -n default get serviceaccount default >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail_start "no default ServiceAccount within ${TIMEOUT}s (kube-controller-manager)"
    sleep 0.5
  done
}

cmd_start() {
  need_tools
  local t0 p
  t0=$(now)
  mkdir -p "$STATE"
  if [ -d "$WORKDIR" ]; then
    p=$(created_port)
    if [ -n "$p" ] && [ "$p" != "$PORT" ]; then
      die "the cluster exists on port $p, not MBH_CLUSTER_PORT=$PORT: run \`$0 stop\` first"
    fi
    if [ ! -f "$KUBECONFIG_FILE" ]; then write_kubeconfig; fi
    if api_ready; then
      echo "cluster: already running (https://127.0.0.1:$PORT, context $CONTEXT, KUBECONFIG=$KUBECONFIG_FILE)"
      exit 0
    fi
    say "the cluster exists but does not answer: restarting its processes"
    kwokctl_ stop cluster >>"$STATE/kwokctl.log" 2>&1 || true
    procs_gone || fail_start "processes of the old cluster do not exit: $(procs_left)"
    kwokctl_ start cluster >>"$STATE/kwokctl.log" 2>&1 || fail_start "kwokctl start cluster failed"
  else
    if port_in_use "$PORT"; then
      die "port 127.0.0.1:$PORT is in use by another program: set MBH_CLUSTER_PORT to a free port"
    fi
    write_config
    rm -f "$KUBECONFIG_FILE"
    : >"$STATE/kwokctl.log"
    kwokctl_ create cluster --config "$STATE/kwokctl.yaml" --kubeconfig "$KWOKCTL_KUBECONFIG" \
      --timeout "${TIMEOUT}s" >>"$STATE/kwokctl.log" 2>&1 || fail_start "kwokctl create cluster failed"
    write_kubeconfig
    # Node addresses on loopback (kwok's default is 192.0.2.x, 2001:db8::x): whatever the API server
    # would dial for a node (logs, exec) stays on this machine.
    # Nodes offer ephemeral storage too (kwok's template has none), or no pod with an
    # ephemeral-storage request would ever schedule.
    kwokctl_ scale node --replicas "$NODES" --param '.nodeIPs=["127.0.0.1"]' \
      --param '.allocatable["ephemeral-storage"]="200Gi"' >>"$STATE/kwokctl.log" 2>&1 \
      || fail_start "kwokctl scale node failed"
    kc apply -f - >>"$STATE/kwokctl.log" 2>&1 <<'EOF' || fail_start "the default StorageClass could not be created"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
  fi
  wait_ready
  echo "cluster: running in $(since "$t0"): https://127.0.0.1:$PORT ($(kc version -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\(v[^"]*\)".*/\1/p' | tail -n1)), $NODES nodes, context $CONTEXT"
  echo "cluster: eval \"\$($0 env)\"   # or: export KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_stop() {
  local t0
  t0=$(now)
  if [ ! -d "$WORKDIR" ]; then
    echo "cluster: not running (nothing in $WORKDIR)"
    rm -f "$KUBECONFIG_FILE"
    return 0
  fi
  command -v kwokctl >/dev/null || die "kwokctl is missing, cannot stop the cluster in $WORKDIR: run tools/engine/build.sh kwok"
  kwokctl_ delete cluster --kubeconfig "$KWOKCTL_KUBECONFIG" >>"$STATE/kwokctl.log" 2>&1 \
    || die "kwokctl delete cluster failed (see $STATE/kwokctl.log)"
  procs_gone || die "processes of the cluster still run after delete: $(procs_left)"
  rm -f "$KUBECONFIG_FILE" "$KWOKCTL_KUBECONFIG"
  rm -rf "$WORKDIR" "$STATE/kube-cache"
  echo "cluster: stopped in $(since "$t0")"
}

cmd_status() {
  if [ ! -d "$WORKDIR" ]; then echo "cluster: not created (state in $STATE)"; exit 1; fi
  if ! api_ready; then echo "cluster: created but not answering on 127.0.0.1:$(created_port) (\`$0 start\` restarts it)"; exit 1; fi
  echo "cluster: running: https://127.0.0.1:$(created_port), context $CONTEXT, KUBECONFIG=$KUBECONFIG_FILE"
  kc version 2>/dev/null | sed 's/^/  /'
  kc get nodes 2>/dev/null | sed 's/^/  /'
}

cmd_env() {
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  [ -n "$tools_path" ] && echo "export PATH=$tools_path:\$PATH"
  echo "# context $CONTEXT; API server https://127.0.0.1:$PORT"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  *) echo "usage: $0 start|stop|status|env|kubeconfig" >&2; exit 2 ;;
esac
