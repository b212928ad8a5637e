#!/usr/bin/env bash
# Installs the built provider plugins into PULUMI_HOME at the versions the Python SDKs in
# requirements.txt expect (pulumi-<name>==X -> resource plugin <name> vX), so the engine finds
# exactly those without downloading. Idempotent. Run after: eval "$(tools/engine/env.sh)".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
reqs=$here/../../requirements.txt
: "${PULUMI_HOME:?run eval \"\$(tools/engine/env.sh)\" first}"
command -v pulumi >/dev/null || { echo "plugins: no pulumi on PATH: run make tools" >&2; exit 1; }
path=$(bash "$here/build.sh" --print-path)
status=0
for name in kubernetes random docker; do
  version=$(sed -nE "s/^pulumi-$name==([0-9.]+).*/\1/p" "$reqs")
  [ -n "$version" ] || continue
  if [ ! -f "$here/provider-$name/build.sh" ]; then
    echo "plugins: resource $name is not buildable here (tools/engine/provider-$name/README.md)" >&2
    continue
  fi
  bin=""
  IFS=: read -r -a entries <<<"$path"
  for e in "${entries[@]}"; do
    [ -x "$e/pulumi-resource-$name" ] && bin=$e/pulumi-resource-$name
  done
  if [ -z "$bin" ]; then
    echo "plugins: pulumi-resource-$name is not built (tools/engine/build.sh provider-$name)" >&2
    status=1
    continue
  fi
  dest=$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name
  if [ -x "$dest" ] && cmp -s "$bin" "$dest"; then
    continue
  fi
  pulumi plugin install resource "$name" "$version" --file "$bin" --reinstall >/dev/null
  echo "plugins: installed resource $name v$version from $bin" >&2
done
exit $status
