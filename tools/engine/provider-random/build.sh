#!/usr/bin/env bash
# Builds pulumi-resource-random into "$OUT" (run by tools/engine/build.sh, which sets OUT, GOFLAGS
# and MBH_TOOLS_JOBS): Terraform's random provider v3.9.0 behind the Pulumi bridge, our own token
# mapping (randominfo), and a schema generated here by the bridge's generator. The version must
# match requirements.txt's pulumi-random.
set -euo pipefail
VERSION=4.21.4
LDFLAGS="-X mbhealth.local/tools/engine/provider-random/randominfo.Version=$VERSION"
UPSTREAM=github.com/terraform-providers/terraform-provider-random

# The generated files would change this folder's cache key, so the build runs in a scratch copy.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R . "$work/src"
cd "$work/src"

# 1. The generator, run once: schema.json and bridge-metadata.json beside the provider's main.go.
#    PULUMI_CONVERT=0 converts the docs' HCL examples in-process (no pulumi CLI needed).
go build -p "$MBH_TOOLS_JOBS" -ldflags "$LDFLAGS" -o "$work/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random
go mod download "$UPSTREAM"
PULUMI_CONVERT=0 MBH_RANDOM_UPSTREAM_DIR=$(go list -m -f '{{.Dir}}' "$UPSTREAM") \
  "$work/pulumi-tfgen-random" schema --out "$work/gen"
cp "$work/gen/bridge-metadata.json" cmd/pulumi-resource-random/
# The generator leaves the version out of the schema; stamp it (as upstream's generate.go does).
python3 - "$work/gen/schema.json" "$VERSION" cmd/pulumi-resource-random/schema.json <<'PY'
import json, sys
src, version, dst = sys.argv[1:]
with open(src) as f:
    schema = json.load(f)
schema["version"] = version
with open(dst, "w") as f:
    json.dump(schema, f, separators=(",", ":"))
PY

# 2. The provider, embedding them.
CGO_ENABLED=0 go build -p "$MBH_TOOLS_JOBS" -ldflags "$LDFLAGS" \
  -o "$OUT/pulumi-resource-random" ./cmd/pulumi-resource-random
