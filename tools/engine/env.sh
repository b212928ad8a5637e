#!/usr/bin/env bash
# Prints the shell exports that put the built toolchain to use:  eval "$(tools/engine/env.sh)"
#
#   PATH         the pulumi CLI (+ our Python language host beside it), kubectl, kube-*, etcd, the node binaries
#                (provider plugins are NOT put on PATH: the engine would warn on every run; they are
#                installed into PULUMI_HOME by tools/engine/plugins.sh)
#   PULUMI_HOME  a Pulumi home of the toolchain's own (plugins), never ~/.pulumi
#   PULUMI_SKIP_UPDATE_CHECK, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: no network, ever;
#                a missing plugin is an error, not a download.
# Exits 1 with the command to run when the pulumi group has not been built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${MBH_TOOLS_CACHE:-$HOME/.cache/mbhealth/tools}
path=$(bash "$here/build.sh" --print-path)
case ":$path:" in
  *"/pulumi-"*) ;;
  *) echo "tools: the Pulumi toolchain is not built: run make tools" >&2; exit 1 ;;
esac
# Provider plugin folders stay off PATH.
keep=()
IFS=: read -r -a entries <<<"$path"
for e in "${entries[@]}"; do
  case "$e" in */provider-*) ;; *) keep+=("$e") ;; esac
done
printf 'export PATH=%q\n' "$(IFS=:; echo "${keep[*]}"):$PATH"
printf 'export PULUMI_HOME=%q\n' "${MBH_PULUMI_HOME:-$CACHE/pulumi-home}"
echo 'export PULUMI_SKIP_UPDATE_CHECK=true'
echo 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true'
