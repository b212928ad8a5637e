#!/usr/bin/env bash
# Creates a kind cluster named mbhealth wired to a registry container on localhost:5000
# (the dev stack pushes there), plus the ingress-nginx controller. Needs docker and kind.
# Follows https://kind.sigs.k8s.io/docs/user/local-registry/.
set -euo pipefail
name=${KIND_CLUSTER:-mbhealth}
reg_name=kind-registry
reg_port=5000

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-cluster: '$tool' is required" >&2; exit 1; }
done

if [ "$(docker inspect -f '{{.State.Running}}' "$reg_name" 2>/dev/null || true)" != 'true' ]; then
  docker run -d --restart=always -p "127.0.0.1:${reg_port}:5000" --network bridge --name "$reg_name" registry:2
fi

if ! kind get clusters | grep -qx "$name"; then
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

# Nodes resolve localhost:5000 to the registry container.
for node in $(kind get nodes --name "$name"); do
  docker exec "$node" mkdir -p "/etc/containerd/certs.d/localhost:${reg_port}"
  printf '[host."http://%s:5000"]\n' "$reg_name" | docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/localhost:${reg_port}/hosts.toml"
done
docker network connect kind "$reg_name" 2>/dev/null || true

kubectl apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${reg_port}"
YAML

kubectl apply -f https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.11.3/deploy/static/provider/kind/deploy.yaml
kubectl -n ingress-nginx wait --for=condition=Available deployment/ingress-nginx-controller --timeout=180s
echo "kind cluster '$name' is ready; kube context: kind-$name"
