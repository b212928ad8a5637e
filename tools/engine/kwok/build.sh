#!/usr/bin/env bash
# kwok (kwok-controller) and kwokctl at the version go.mod requires (run by tools/engine/build.sh:
# OUT, GOFLAGS, MBH_TOOLS_JOBS set). Also writes kwok's own default node and pod Stages (the ones
# kwokctl uses when a config brings none) to $OUT/../share/kwok/default-stages.yaml:
# tools/local-cluster/cluster.sh adds its own Stages to them, and a config that brings any Stage
# replaces kwokctl's defaults.
set -euo pipefail

version=$(go list -m -f '{{.Version}}' sigs.k8s.io/kwok)   # e.g. v0.8.0
ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$version"
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/" tool

src=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
share="$OUT/../share/kwok"
mkdir -p "$share"
{
  echo "# kwok $version default Stages, from sigs.k8s.io/kwok@$version/kustomize/stage"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    cat "$src/kustomize/stage/$f"
  done
} > "$share/default-stages.yaml"
[ "$(grep -c '^kind: Stage$' "$share/default-stages.yaml")" = 5 ] || { echo "default-stages.yaml: want 5 Stages" >&2; exit 1; }

for b in kwok kwokctl; do
  out=$("$OUT/$b" --version)
  echo "$out"
  grep -q "${version#v}" <<<"$out" || { echo "$b --version says '$out', want $version" >&2; exit 1; }
done
