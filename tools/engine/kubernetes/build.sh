#!/usr/bin/env bash
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the node's kubelet and
# kube-proxy from k8s.io/kubernetes at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS, MBH_TOOLS_JOBS set).
# The version is stamped the way Kubernetes' own release build does (hack/lib/version.sh),
# otherwise every binary, and the API server's /version, says v0.0.0.
set -euo pipefail

version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)   # e.g. v1.34.4
[[ $version =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "unexpected k8s.io/kubernetes version: $version" >&2; exit 1; }
minor=${BASH_REMATCH[1]}
# Each staging module must be replaced by its release of the same minor/patch (v0.34.4 for v1.34.4).
go list -m -f '{{if .Replace}}{{.Path}} {{.Replace.Version}}{{end}}' all | while read -r mod rv; do
  [ "$rv" = "v0.${version#v1.}" ] || { echo "go.mod: $mod is replaced by $rv, want v0.${version#v1.}" >&2; exit 1; }
done

ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

# Static binaries, as Kubernetes ships its control plane.
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/" tool

for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  out=$("$OUT/$b" --version)
  echo "$out"
  [ "$out" = "Kubernetes $version" ] || { echo "$b --version says '$out', want 'Kubernetes $version'" >&2; exit 1; }
done
out=$("$OUT/kubectl" version --client)
echo "$out"
grep -qx "Client Version: $version" <<<"$out" || { echo "kubectl version --client: want $version" >&2; exit 1; }
