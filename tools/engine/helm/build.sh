#!/usr/bin/env bash
# helm at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS, MBH_TOOLS_JOBS
# set), stamped with the full set of -X flags of upstream's Makefile (internal/version: version,
# metadata, gitCommit, gitTreeState), otherwise `helm version` says v4.3 with no patch release.
set -euo pipefail

version=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)   # e.g. v4.3.2
pkg=helm.sh/helm/v4/internal/version
# A tagged release: metadata empty (the Makefile's "unreleased" is for untagged builds). The module
# zip is exactly the release, so the tree is clean. A module build has no git commit: gitCommit stays
# empty (`helm version --short` would append "+g" and its first 7 characters).
ldflags="-s -w -X $pkg.version=$version -X $pkg.metadata= -X $pkg.gitCommit= -X $pkg.gitTreeState=clean"
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/" tool

out=$("$OUT/helm" version)
echo "$out"
grep -q "Version:\"$version\"" <<<"$out" || { echo "helm version says '$out', want Version:\"$version\"" >&2; exit 1; }
out=$("$OUT/helm" version --short)
[ "$out" = "$version" ] || { echo "helm version --short says '$out', want $version" >&2; exit 1; }
