#!/usr/bin/env bash
# Builds the real-engine toolchain from published Go modules into a cache outside the work tree.
#
# Usage: tools/engine/build.sh [GROUP...]     (default: every group)
#        tools/engine/build.sh --print-path   print the PATH entries of the built groups
#
# A group is a folder tools/engine/<group>/ holding a small Go wrapper module (go.mod, go.sum,
# sometimes a main.go of our own) and a recipe, build.sh, that builds the group's binaries into
# "$OUT" (the driver sets OUT, GOFLAGS=-trimpath and exports the group's folder as GROUP_DIR).
# Each group lands in  $MBH_TOOLS_CACHE/<group>-<key>/bin  where <key> hashes every file of the
# group folder and the Go version: a second run is instant, a pin change builds anew beside the
# old one, and CI on the same machine reuses what a developer built.
#
#   MBH_TOOLS_CACHE   default ~/.cache/mbhealth/tools
#   MBH_TOOLS_JOBS    go build -p (default: the number of cores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${MBH_TOOLS_CACHE:-$HOME/.cache/mbhealth/tools}
GROUPS_ALL=(pulumi provider-kubernetes provider-random provider-docker etcd kubernetes kube-router coredns metrics-server traefik pause local-path-provisioner)

log() { echo "tools: $*" >&2; }

key_of() { # group -> cache key
  local g=$1
  { (cd "$here/$g" && find . -type f ! -name '*.log' -print0 | sort -z | xargs -0 sha256sum); go env GOVERSION; } \
    | sha256sum | cut -c1-16
}

dir_of() { echo "$CACHE/$1-$(key_of "$1")"; }

present() { [ -d "$here/$1" ] && [ -f "$here/$1/build.sh" ]; }

if [ "${1:-}" = "--print-path" ]; then
  entries=()
  for g in "${GROUPS_ALL[@]}"; do
    present "$g" || continue
    d=$(dir_of "$g")
    [ -f "$d/.complete" ] && entries+=("$d/bin")
  done
  (IFS=:; echo "${entries[*]}")
  exit 0
fi

command -v go >/dev/null || { log "Go is required (go1.26+): the toolchain is built from Go modules"; exit 1; }
groups=("$@")
if [ ${#groups[@]} -eq 0 ]; then
  # Every group that has a recipe; a group folder without one says why in its README.
  for g in "${GROUPS_ALL[@]}"; do
    if present "$g"; then groups+=("$g"); else log "$g: not buildable here (tools/engine/$g/README.md)"; fi
  done
fi
for g in "${groups[@]}"; do
  present "$g" || { log "no such group: $g (have: ${GROUPS_ALL[*]})"; exit 2; }
done

mkdir -p "$CACHE"
for g in "${groups[@]}"; do
  d=$(dir_of "$g")
  if [ -f "$d/.complete" ]; then
    log "$g: cached ($d)"
    continue
  fi
  log "$g: building into $d"
  rm -rf "$d.partial"
  mkdir -p "$d.partial/bin"
  start=$SECONDS
  if ! (cd "$here/$g" && OUT="$d.partial/bin" GROUP_DIR="$here/$g" \
        GOFLAGS="-trimpath -mod=readonly -buildvcs=false" GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" \
        MBH_TOOLS_JOBS="${MBH_TOOLS_JOBS:-$(nproc)}" bash ./build.sh) >"$d.partial/build.log" 2>&1; then
    log "$g: FAILED after $((SECONDS - start))s; last lines of $d.partial/build.log:"
    tail -n 25 "$d.partial/build.log" >&2
    exit 1
  fi
  echo "$((SECONDS - start))" > "$d.partial/build-seconds"
  touch "$d.partial/.complete"
  rm -rf "$d"
  mv "$d.partial" "$d"
  log "$g: built in $((SECONDS - start))s"
done
