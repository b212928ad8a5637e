#!/usr/bin/env bash
# metrics-server at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS,
# MBH_TOOLS_JOBS set). Stamped the way upstream's Makefile does (VERSION_LDFLAGS: only
# k8s.io/client-go/pkg/version, which `metrics-server --version` prints), otherwise it says
# v0.0.0-master. k8s.io/component-base/version is left alone, as upstream leaves it: it is the
# Kubernetes library version the API server code derives its compatibility version from.
set -euo pipefail

version=$(go list -m -f '{{.Version}}' sigs.k8s.io/metrics-server)   # e.g. v0.8.0
pkg=k8s.io/client-go/pkg/version
# gitCommit: a module build has no checkout; buildDate stays unset (reproducible builds).
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitCommit=module-$version"
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/" tool

out=$("$OUT/metrics-server" --version)
echo "$out"
[ "$out" = "$version" ] || { echo "metrics-server --version says '$out', want $version" >&2; exit 1; }
