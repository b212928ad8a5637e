#!/usr/bin/env bash
# kube-router at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS,
# MBH_TOOLS_JOBS set), stamped with the -X flags of upstream's Makefile (pkg/version.Version and
# BuildDate), otherwise `kube-router --version` prints an empty version.
set -euo pipefail

mod=github.com/cloudnativelabs/kube-router/v2
version=$(go list -m -f '{{.Version}}' "$mod")   # e.g. v2.1.0
# Upstream stamps `git describe --tags` and the build time; a module build has the tag, and the
# release's own time (from the module proxy) keeps the build reproducible.
built=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$mod")
ldflags="-s -w -X $mod/pkg/version.Version=$version -X $mod/pkg/version.BuildDate=$built"
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/" tool

out=$("$OUT/kube-router" --version 2>&1)   # it prints to stderr
echo "$out"
grep -q "^Running .*kube-router version $version, built on $built, " <<<"$out" \
  || { echo "kube-router --version says '$out', want version $version" >&2; exit 1; }
# The flags the node runs it with must exist in this version.
help=$("$OUT/kube-router" --help 2>&1 || true)
for f in --run-router --run-service-proxy --run-firewall; do
  grep -q -- "$f" <<<"$help" || { echo "kube-router --help lacks $f" >&2; exit 1; }
done
