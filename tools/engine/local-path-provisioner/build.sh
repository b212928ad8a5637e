#!/usr/bin/env bash
# local-path-provisioner at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS,
# MBH_TOOLS_JOBS set), stamped the way upstream's scripts/build does (-X main.VERSION).
set -euo pipefail
version=$(go list -m -f '{{.Version}}' github.com/rancher/local-path-provisioner)   # e.g. v0.0.30
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "-s -w -X main.VERSION=$version" -o "$OUT/" tool
out=$("$OUT/local-path-provisioner" --version)
echo "$out"
grep -q -- "$version" <<<"$out" || { echo "local-path-provisioner --version says '$out', want $version" >&2; exit 1; }
