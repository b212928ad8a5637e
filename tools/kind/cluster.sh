#!/usr/bin/env bash
# Creates a kind cluster (KIND_CLUSTER, default mbhealth) wired to a registry container on
# localhost:REGISTRY_PORT (default 5000), plus the ingress-nginx controller. Needs docker,
# kind and kubectl. Follows https://kind.sigs.k8s.io/docs/user/local-registry/.
#
# macOS 12+ keeps port 5000 for AirPlay: `make cluster REGISTRY_PORT=5001`, then point the
# dev stack at it: pulumi config set --stack dev --path registry.server localhost:5001
#
# Every kubectl call names the cluster's context (kind-<name>), never the current one, and
# every failing command stops the script with its own error.
set -euo pipefail
name=${KIND_CLUSTER:-mbhealth}
context="kind-${name}"
reg_name=${REGISTRY_NAME:-kind-registry}
reg_port=${REGISTRY_PORT:-5000}
ingress_manifest=https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.11.3/deploy/static/provider/kind/deploy.yaml

fail() { echo "kind-cluster: $*" >&2; exit 1; }

if ! [[ "$reg_port" =~ ^[0-9]{1,5}$ ]] || ((reg_port < 1 || reg_port > 65535)); then
  echo "kind-cluster: REGISTRY_PORT must be a port number from 1 to 65535, got '${reg_port}'" >&2
  exit 2
fi

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || fail "'$tool' is required"
done

k() { kubectl --context "$context" "$@"; }

# The registry container: create it, start it, or check it publishes the port asked for.
state=$(docker ps --all --filter "name=^/?${reg_name}\$" --format '{{.State}}')
case "$state" in
  "")
    docker run -d --restart=always -p "127.0.0.1:${reg_port}:5000" --network bridge --name "$reg_name" registry:2
    ;;
  running) ;;
  *)
    docker start "$reg_name"
    ;;
esac
published=$(docker port "$reg_name" 5000/tcp)
if [[ "$published" != *":${reg_port}"* ]]; then
  fail "registry container '$reg_name' publishes ${published:-nothing}, not port ${reg_port}; remove it (docker rm -f $reg_name) or set REGISTRY_PORT to its port"
fi

clusters=$(kind get clusters)
if ! grep -qx "$name" <<<"$clusters"; then
  cat <<KIND | kind create cluster --name "$name" --config=-
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
nodes:
  - role: control-plane
    kubeadmConfigPatches:
      - |
        kind: InitConfiguration
        nodeRegistration:
          kubeletExtraArgs:
            node-labels: "ingress-ready=true"
    extraPortMappings:
      - {containerPort: 80, hostPort: 80, protocol: TCP}
      - {containerPort: 443, hostPort: 443, protocol: TCP}
KIND
fi

# Nodes resolve localhost:<port> to the registry container (which listens on 5000 inside).
nodes=$(kind get nodes --name "$name")
[[ -n "$nodes" ]] || fail "kind reports no nodes for cluster '$name'"
for node in $nodes; do
  docker exec "$node" mkdir -p "/etc/containerd/certs.d/localhost:${reg_port}"
  printf '[host."http://%s:5000"]\n' "$reg_name" |
    docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/localhost:${reg_port}/hosts.toml"
done

connected=$(docker inspect -f '{{if index .NetworkSettings.Networks "kind"}}yes{{end}}' "$reg_name")
if [[ "$connected" != yes ]]; then
  docker network connect kind "$reg_name"
fi

k apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${reg_port}"
YAML

k apply -f "$ingress_manifest"
k -n ingress-nginx wait --for=condition=Available deployment/ingress-nginx-controller --timeout=180s
echo "kind cluster '$name' is ready; kube context: ${context}; registry: localhost:${reg_port}"
if [[ "$reg_port" != 5000 ]]; then
  echo "the dev stack pushes to localhost:5000; point it at this registry:"
  echo "  pulumi config set --stack dev --path registry.server localhost:${reg_port}"
fi
