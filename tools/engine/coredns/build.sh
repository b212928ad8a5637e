#!/usr/bin/env bash
# coredns (our main.go: coremain.Run with only the plugins kubernetes, cache, errors, health, ready,
# log) at the version go.mod requires (run by tools/engine/build.sh: OUT, GOFLAGS, MBH_TOOLS_JOBS set).
# Checks that `coredns -version` names that version, that `coredns -plugins` lists exactly those
# plugins (and the three their packages register, below) and that a Corefile can use those six
# directives only: a forward plugin compiled in would let pods' DNS queries leave the machine.
set -euo pipefail

version=$(go list -m -f '{{.Version}}' github.com/coredns/coredns)   # e.g. v1.15.0
# Upstream's Makefile stamps coremain.GitCommit (git describe); a module build has no checkout,
# so say where it came from. -tags grpcnotrace is upstream's default GOTAGS.
ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=module-$version"
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -tags grpcnotrace -ldflags "$ldflags" -o "$OUT/coredns" .

out=$("$OUT/coredns" -version)
echo "$out"
grep -qx "CoreDNS-${version#v}" <<<"$out" || { echo "coredns -version says '$out', want CoreDNS-${version#v}" >&2; exit 1; }

# -plugins lists every plugin registered in the binary. Besides main.go's six, three packages the
# kubernetes, cache and log plugins import register themselves (metadata, prometheus from
# plugin/metrics, transfer); they are not in main.go's directives, so a Corefile cannot use them.
# Any other name here (forward above all) is an error.
want="cache errors health kubernetes log metadata prometheus ready transfer"
got=$("$OUT/coredns" -plugins | grep -v '^$' | sort | tr '\n' ' ' | sed 's/ $//')
echo "plugins: $got"
[ "$got" = "$want" ] || { echo "coredns -plugins lists '$got', want exactly '$want'" >&2; exit 1; }

# What a Corefile may use: the six directives parse (the bad kubernetes option proves the parser
# got that far; nothing starts listening), the rest are unknown.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corefile() { printf 'dns://127.0.0.1:0 {\n%s\n}\n' "$1" > "$tmp/Corefile"; timeout 20 "$OUT/coredns" -conf "$tmp/Corefile" 2>&1 || true; }
out=$(corefile $'  ready 127.0.0.1:0\n  health 127.0.0.1:0\n  errors\n  log\n  cache 30\n  kubernetes cluster.local {\n    no_such_option\n  }')
grep -q "plugin/kubernetes: .*unknown property 'no_such_option'" <<<"$out" \
  || { echo "coredns: a Corefile with ready, health, errors, log, cache, kubernetes did not parse: $out" >&2; exit 1; }
for d in forward prometheus metadata transfer; do
  out=$(corefile "  $d")
  grep -q "Unknown directive '$d'" <<<"$out" || { echo "coredns: directive $d should be unknown, got: $out" >&2; exit 1; }
done
echo "directives: ready health errors log cache kubernetes (forward, prometheus, metadata, transfer refused)"
