#!/usr/bin/env bash
# Builds pulumi-resource-kubernetes into "$OUT" (run by tools/engine/build.sh, which sets OUT,
# GOFLAGS and MBH_TOOLS_JOBS). The version must match requirements.txt's pulumi-kubernetes.
set -euo pipefail
VERSION=4.25.0
MOD=github.com/pulumi/pulumi-kubernetes/provider/v4

# The generated embeds would change this folder's cache key, so the build runs in a scratch copy
# of the wrapper module (go.mod, go.sum, main.go) and they are written there.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp go.mod go.sum main.go "$work/"
cd "$work"

go mod download "$MOD"
src=$(go list -m -f '{{.Dir}}' "$MOD")/cmd/pulumi-resource-kubernetes
# What upstream's `go generate` (cmd/pulumi-resource-kubernetes/generate.go) does: stamp the
# version into the committed schema and minify both files.
python3 - "$src" "$VERSION" <<'PY'
import json, sys
src, version = sys.argv[1], sys.argv[2]
with open(f"{src}/schema.json") as f:
    schema = json.load(f)
schema["version"] = version
with open("schema-embed.json", "w") as f:
    json.dump(schema, f, separators=(",", ":"))
with open(f"{src}/terraform-mapping.json") as f:
    mapping = json.load(f)
with open("terraform-mapping-embed.json", "w") as f:
    json.dump(mapping, f, separators=(",", ":"))
PY

CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" \
  -ldflags "-X $MOD/pkg/version.Version=$VERSION" \
  -o "$OUT/pulumi-resource-kubernetes" .
