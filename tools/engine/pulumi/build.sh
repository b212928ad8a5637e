#!/usr/bin/env bash
# The Pulumi CLI at the version of the `pulumi` Python package pinned in requirements.txt, and,
# beside it (where the engine looks for a bundled language host), our Python language host
# (langhost/) with the exec script the Python SDK's runtime starts with — taken from the published
# sdk/v3 module at build time, the same version.
set -euo pipefail
want=v$(sed -nE 's/^pulumi==([0-9.]+).*/\1/p' "$GROUP_DIR/../../../requirements.txt")
pkg=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
sdk=$(cd langhost && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)
for got in "pkg/v3 $pkg (tools/engine/pulumi/go.mod)" "sdk/v3 $sdk (tools/engine/pulumi/langhost/go.mod)"; do
  case "$got" in *" $want "*) ;; *) echo "requirements.txt pins pulumi==${want#v} but $got differs: make them agree"; exit 1 ;; esac
done

go build -p "$MBH_TOOLS_JOBS" -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$want" \
  -o "$OUT/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
"$OUT/pulumi" version

(cd langhost && go build -p "$MBH_TOOLS_JOBS" -ldflags "-s -w -X main.version=${want#v}" -o "$OUT/pulumi-language-python" .)
go mod download github.com/pulumi/pulumi/sdk/v3
sdkdir=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$OUT/pulumi-language-python-exec"

# The host prints its port and serves until stopped: check that it starts.
trial=$(mktemp)
"$OUT/pulumi-language-python" 127.0.0.1:1 >"$trial" &
pid=$!
for _ in $(seq 100); do [ -s "$trial" ] && break; sleep 0.1; done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
port=$(head -n 1 "$trial"); rm -f "$trial"
case "$port" in ''|*[!0-9]*) echo "pulumi-language-python did not print a port (got: '$port')"; exit 1 ;; esac
echo "pulumi-language-python ${want#v} serves (port $port in a trial start)"
