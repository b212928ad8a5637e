#!/usr/bin/env bash
# Builds the real-engine toolchain from published Go modules into a cache outside the work tree.
#
# Usage: tools/engine/build.sh [GROUP...]     (default: every group but the optional ones)
#        tools/engine/build.sh --print-path   print the PATH entries of the built groups
#
# A group is a folder tools/engine/<group>/ holding a small Go wrapper module (go.mod, go.sum,
# sometimes a main.go of our own) and a recipe, build.sh, that builds the group's binaries into
# "$OUT" (the driver sets OUT, GOFLAGS=-trimpath and exports the group's folder as GROUP_DIR).
# Each group lands in  $MBH_TOOLS_CACHE/<group>-<key>/bin  where <key> hashes every file of the
# group folder and the Go version: a second run is instant, a pin change builds anew beside the
# old one, and CI on the same machine reuses what a developer built.
#
# A cold build of every group takes 40+ minutes on 2 cores: while a group builds, a line every
# MBH_TOOLS_PROGRESS seconds says which group of how many, how many of its packages have been
# compiled (the recipes' `go build -v` lines, GOFLAGS carries -v, against the packages `go list`
# finds stale beforehand), the time so far and how long the last build of the group took (the
# build-seconds of an older cache key of the same group).
#
#   MBH_TOOLS_CACHE     default ~/.cache/mbhealth/tools
#   MBH_TOOLS_JOBS      go build -p (default: the number of cores)
#   MBH_TOOLS_PROGRESS  seconds between progress lines (default 30)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${MBH_TOOLS_CACHE:-$HOME/.cache/mbhealth/tools}
GROUPS_ALL=(pulumi provider-kubernetes provider-random provider-docker etcd kubernetes
            coredns kube-router metrics-server traefik pause local-path-provisioner helm)
# Built only when named (helm: the benchmark's alone); --print-path includes them once built.
GROUPS_OPTIONAL=(helm)
PROGRESS=${MBH_TOOLS_PROGRESS:-30}
GOFLAGS_GROUP="-trimpath -mod=readonly -buildvcs=false"

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
    case " ${GROUPS_OPTIONAL[*]} " in *" $g "*) continue ;; esac
    if present "$g"; then groups+=("$g"); else log "$g: not buildable here (tools/engine/$g/README.md)"; fi
  done
fi
for g in "${groups[@]}"; do
  present "$g" || { log "no such group: $g (have: ${GROUPS_ALL[*]})"; exit 2; }
done

fmt_secs() { local t=$1; if [ "$t" -ge 60 ]; then echo "$((t / 60))m$((t % 60))s"; else echo "${t}s"; fi; }

last_seconds() { # group, current dir -> build-seconds of the newest other key of the group, if any
  local g=$1 cur=$2 f newest=""
  for f in "$CACHE/$g"-????????????????/build-seconds; do
    [ -f "$f" ] && [ "${f%/build-seconds}" != "$cur" ] || continue
    [[ ${f%/build-seconds} =~ /$g-[0-9a-f]{16}$ ]] || continue
    if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest=$f; fi
  done
  [ -z "$newest" ] || cat "$newest"
}

# progress GROUP LABEL PARTIAL_DIR START LAST: runs in the background while the recipe runs and
# prints a line every $PROGRESS seconds until the driver ends it.
progress() {
  local g=$1 label=$2 p=$3 start=$4 last=$5 list="" lister="" total="" done_ pct line targets=()
  # What is left to compile: the group's packages (not std) that are stale in the build cache, as
  # `go list` sees them with the recipes' GOFLAGS. A big group takes it a few seconds to say.
  grep -q '^tool' "$here/$g/go.mod" 2>/dev/null && targets+=(tool)
  [ -n "$(cd "$here/$g" && find . -name '*.go' -print -quit)" ] && targets+=(./...)
  if [ ${#targets[@]} -gt 0 ]; then
    list=$(mktemp)
    (cd "$here/$g" && GOFLAGS="$GOFLAGS_GROUP" CGO_ENABLED=0 exec go list -e -deps \
       -f '{{if and (not .Standard) .Stale}}{{.ImportPath}}{{end}}' "${targets[@]}" >"$list" 2>/dev/null) &
    lister=$!
  fi
  trap '[ -z "$lister" ] || kill "$lister" 2>/dev/null; [ -z "$list" ] || rm -f "$list"; exit 0' TERM
  while :; do
    for _ in $(seq "$PROGRESS"); do sleep 1; done
    if [ -z "$total" ] && [ -n "$lister" ] && ! kill -0 "$lister" 2>/dev/null; then
      wait "$lister" 2>/dev/null || true
      lister=""
      sed -i '/^$/d' "$list"
      total=$(wc -l < "$list")
    fi
    line="tools: $label $g: "
    if [ -n "$total" ] && [ "$total" -gt 0 ]; then
      done_=$(grep -Fxc -f "$list" "$p/build.log" 2>/dev/null || true)
      [ "$done_" -le "$total" ] || done_=$total
      pct=$((100 * done_ / total))
      line+="$done_/$total packages ($pct%), "
    elif [ -n "$total" ]; then
      line+="no Go package left to compile, "
    elif [ ${#targets[@]} -gt 0 ]; then
      done_=$(grep -Ec '^[[:alnum:]._~-]+(/[[:alnum:]._~-]+)+$' "$p/build.log" 2>/dev/null || true)
      line+="$done_ packages compiled (counting the rest), "
    fi
    line+="$(fmt_secs $((SECONDS - start))) so far"
    if [ -n "$last" ]; then line+="; last build of this group took ${last}s"; else line+="; no earlier build of this group"; fi
    echo "$line" >&2
  done
}

mkdir -p "$CACHE"
n=${#groups[@]}
i=0
monitor=""
trap '[ -n "$monitor" ] && kill "$monitor" 2>/dev/null; true' EXIT
for g in "${groups[@]}"; do
  i=$((i + 1))
  label="[$i/$n]"
  d=$(dir_of "$g")
  if [ -f "$d/.complete" ]; then
    log "$label $g: cached ($d)"
    continue
  fi
  last=$(last_seconds "$g" "$d" || true)
  log "$label $g: building into $d${last:+ (last build of this group took ${last}s)}"
  rm -rf "$d.partial"
  mkdir -p "$d.partial/bin"
  start=$SECONDS
  progress "$g" "$label" "$d.partial" "$start" "$last" &
  monitor=$!
  rc=0
  (cd "$here/$g" && OUT="$d.partial/bin" GROUP_DIR="$here/$g" \
        GOFLAGS="$GOFLAGS_GROUP -v" GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" \
        MBH_TOOLS_JOBS="${MBH_TOOLS_JOBS:-$(nproc)}" bash ./build.sh) >"$d.partial/build.log" 2>&1 || rc=$?
  kill "$monitor" 2>/dev/null || true
  wait "$monitor" 2>/dev/null || true
  monitor=""
  if [ "$rc" -ne 0 ]; then
    log "$label $g: FAILED after $((SECONDS - start))s; last lines of $d.partial/build.log:"
    tail -n 25 "$d.partial/build.log" >&2
    exit 1
  fi
  echo "$((SECONDS - start))" > "$d.partial/build-seconds"
  touch "$d.partial/.complete"
  rm -rf "$d"
  mv "$d.partial" "$d"
  log "$label $g: built in $((SECONDS - start))s"
done
