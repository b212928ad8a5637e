#!/usr/bin/env bash
# pause (the pod sandbox's infra process) from build/pause/linux/pause.c of k8s.io/kubernetes at the
# version go.mod requires, compiled statically with gcc the way upstream's build/pause/Makefile does
# (run by tools/engine/build.sh: OUT, GOFLAGS, MBH_TOOLS_JOBS set; MBH_TOOLS_JOBS is unused).
# Needs gcc, libc6-dev (static libc) and binutils (strip, readelf) from Debian.
set -euo pipefail

for t in gcc strip readelf; do
  command -v "$t" >/dev/null || { echo "pause: $t is required: apt-get install -y gcc libc6-dev binutils" >&2; exit 1; }
done

go mod download k8s.io/kubernetes   # verified against go.sum
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)   # e.g. v1.34.4
src=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause
# The image tag the Makefile builds (TAG ?= 3.10.1); its REV is `git describe --contains` of the
# Kubernetes checkout, which for a module is the module's version.
tag=$(sed -nE 's/^TAG \?= *([0-9.]+)$/\1/p' "$src/Makefile")
[ -n "$tag" ] || { echo "pause: no 'TAG ?=' in $src/Makefile" >&2; exit 1; }
pv="v$tag-$version"
# Upstream's CFLAGS, then strip as upstream does.
gcc -Os -Wall -Werror -static -DVERSION="$pv" -o "$OUT/pause" "$src/linux/pause.c"
strip "$OUT/pause"
if readelf -l "$OUT/pause" | grep -q INTERP; then echo "pause: not a static binary" >&2; exit 1; fi
# The registry.k8s.io/pause tag this program is, for whoever packs it as the sandbox image.
mkdir -p "$OUT/../share/pause"
echo "$tag" > "$OUT/../share/pause/image-tag"

out=$("$OUT/pause" -v)
echo "$out"
[ "$out" = "pause.c $pv" ] || { echo "pause -v says '$out', want 'pause.c $pv'" >&2; exit 1; }
