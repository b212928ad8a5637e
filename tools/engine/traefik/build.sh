#!/usr/bin/env bash
# traefik at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS, MBH_TOOLS_JOBS
# set), stamped the way upstream's release does (.goreleaser.yml.tmpl: pkg/version Version without
# the v, Codename from .github/workflows/release.yaml, BuildDate), otherwise `traefik version` says
# "dev". The dashboard's web files are not in the module: the dashboard is empty.
# About 6.6 min and 3 GiB of memory on 2 cores.
set -euo pipefail

mod=github.com/traefik/traefik/v3
version=$(go list -m -f '{{.Version}}' "$mod")   # e.g. v3.6.12
# .Dir is empty until the module is in the module cache (a cold machine): download it first.
go mod download "$mod"
src=$(go list -m -f '{{.Dir}}' "$mod")
[ -d "$src" ] || { echo "traefik: $mod is not in the module cache after go mod download" >&2; exit 1; }
codename=$(sed -nE 's/^ *CODENAME: *([a-z]+) *$/\1/p' "$src/.github/workflows/release.yaml")
[ -n "$codename" ] || { echo "traefik: no CODENAME in $src/.github/workflows/release.yaml" >&2; exit 1; }
# The release's own time (from the module proxy), not the build's: reproducible.
built=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$mod")
ldflags="-s -w -X $mod/pkg/version.Version=${version#v} -X $mod/pkg/version.Codename=$codename -X $mod/pkg/version.BuildDate=$built"
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$ldflags" -o "$OUT/" tool

out=$("$OUT/traefik" version)
echo "$out"
grep -Eq "^Version: +${version#v}$" <<<"$out" || { echo "traefik version says '$out', want ${version#v}" >&2; exit 1; }
grep -Eq "^Codename: +$codename$" <<<"$out" || { echo "traefik version: want codename $codename" >&2; exit 1; }
# The provider the node uses.
# (Read whole first: `grep -q` closing the pipe early would fail the pipeline under pipefail.)
help=$("$OUT/traefik" --help)
grep -q -- '--providers.kubernetesingress' <<<"$help" \
  || { echo "traefik --help does not list providers.kubernetesingress" >&2; exit 1; }
echo "--help lists providers.kubernetesingress"
