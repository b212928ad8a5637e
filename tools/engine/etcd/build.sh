#!/usr/bin/env bash
# etcd (our main.go: etcdmain.Main) and etcdctl at the version go.mod requires (run by
# tools/engine/build.sh: OUT, GOFLAGS, MBH_TOOLS_JOBS set).
set -euo pipefail

version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)   # e.g. v3.6.16
ctl=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/etcdctl/v3)
[ "$ctl" = "$version" ] || { echo "go.mod: etcdctl $ctl differs from the server's $version" >&2; exit 1; }
# etcd prints a Git SHA beside its version; a module build has none, say where it came from.
ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$version"

CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/etcd" .
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/etcdctl" go.etcd.io/etcd/etcdctl/v3

"$OUT/etcd" --version
"$OUT/etcd" --version | grep -qx "etcd Version: ${version#v}" || { echo "etcd --version: want ${version#v}" >&2; exit 1; }
"$OUT/etcdctl" version
"$OUT/etcdctl" version | grep -qx "etcdctl version: ${version#v}" || { echo "etcdctl version: want ${version#v}" >&2; exit 1; }
