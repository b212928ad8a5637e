#!/usr/bin/env bash
# `make up|preview|down|refresh`: run the Pulumi CLI on one stack, with everything it needs set
# explicitly — never a global `pulumi login`, never "whatever kube context is current".
#
# Usage: scripts/stack.sh up|preview|down|refresh|outputs|env|check [extra pulumi args...]
#
#   STACK            dev (default), prod: one of the Pulumi.<stack>.yaml files here. Another name
#                    fails first, naming them, before any engine, toolchain or cluster is touched
#   KUBE_CONTEXT     the kube context to deploy to (from $KUBECONFIG or ~/.kube/config), with the
#                    user's own Docker (their DOCKER_HOST, else the default socket); unset: the local
#                    control plane (tools/local-cluster/cluster.sh, started when down) and the
#                    project's private Docker engine and registry (tools/machine/docker-engine.sh)
#   PULUMI_BACKEND_URL          state backend (default: file://<repo>/.pulumi-state, created)
#   PULUMI_CONFIG_PASSPHRASE(_FILE)  the stack's passphrase; for dev it defaults to the team's
#                    dev passphrase (docs/secrets: the dev stack holds only generated local
#                    passwords; its salt is committed); any other stack requires one
#   MBH_PULUMI       auto (default: the `pulumi` on PATH, else the toolchain built by
#                    `make tools`) | built (always the built toolchain)
#   MBH_IMAGES       auto (default) | pulumi (pulumi-docker builds and pushes) | prebuilt (built by
#                    scripts/prebuilt_images.py from the same specs, deployed by digest; auto picks
#                    it for a built toolchain without the docker provider)
#   MBH_BASE_IMAGES  JSON map {"python:3.11-slim": "<stand-in ref>", …}: base images to build on
#                    instead of the public ones; with the local control plane it defaults to the
#                    offline stand-ins (tools/standins/forge_bases.py), with KUBE_CONTEXT to none
#
# `env` prints the exports (for `eval`) so raw `pulumi …` commands run the same way; `check` only
# checks STACK (make runs it before anything else of `make up|preview|down`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
action=${1:?usage: scripts/stack.sh up|preview|down|refresh|outputs|env|check [pulumi args...]}
shift
STACK=${STACK:-dev}
DEV_PASSPHRASE=mbhealth-dev-local

say() { echo "stack: $*" >&2; }
die() { say "$*"; exit 1; }

# --- the stack: one that ships a Pulumi.<stack>.yaml here, before anything else happens --------
if [ ! -f "Pulumi.$STACK.yaml" ]; then
  stacks=()
  for file in Pulumi.*.yaml; do
    if [ -f "$file" ]; then stack=${file#Pulumi.}; stacks+=("${stack%.yaml}"); fi
  done
  known=$(IFS=,; echo "${stacks[*]:-}")
  known=${known//,/, }
  echo "stack $STACK: no Pulumi.$STACK.yaml; the stacks here are ${known:-none (no Pulumi.<stack>.yaml file)}" >&2
  exit 1
fi
if [ "$action" = check ]; then exit 0; fi

# --- the CLI -----------------------------------------------------------------------------------
built_toolchain=""
use_built() {
  built_toolchain=1
  bash tools/engine/build.sh pulumi provider-kubernetes provider-random >&2
  [ -d tools/engine/provider-docker ] && [ -f tools/engine/provider-docker/build.sh ] \
    && bash tools/engine/build.sh provider-docker >&2
  eval "$(bash tools/engine/env.sh)"
  bash tools/engine/plugins.sh >&2 || die "provider plugins are missing (see above)"
}
case "${MBH_PULUMI:-auto}" in
  auto) command -v pulumi >/dev/null 2>&1 || { say "no pulumi on PATH: building the toolchain (make tools)"; use_built; } ;;
  built) use_built ;;
  *) die "MBH_PULUMI=${MBH_PULUMI}: expected auto or built" ;;
esac

# --- state and passphrase ----------------------------------------------------------------------
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$repo/.pulumi-state}
case "$PULUMI_BACKEND_URL" in
  file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
esac
export PULUMI_SKIP_UPDATE_CHECK=true
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  case "$STACK:$PULUMI_BACKEND_URL" in
    dev:*) export PULUMI_CONFIG_PASSPHRASE=$DEV_PASSPHRASE ;;
    *:https://*) ;; # Pulumi Cloud: a stack without a passphrase uses the service's secrets manager
    *) die "stack $STACK: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) from your team's secret store" ;;
  esac
fi

# --- the cluster: an explicit kubeconfig holding exactly one context ---------------------------
# The local cluster's toolchain groups (tools/engine): control plane, node and add-ons.
LOCAL_CLUSTER_GROUPS=(etcd kubernetes kube-router coredns metrics-server traefik pause local-path-provisioner)
kube_dir=${MBH_STACK_STATE:-$repo/.pulumi-state/.kube}
mkdir -p "$kube_dir"
if [ -n "${KUBE_CONTEXT:-}" ]; then
  command -v kubectl >/dev/null || die "KUBE_CONTEXT=$KUBE_CONTEXT needs kubectl on PATH"
  kubeconfig=$kube_dir/$STACK-$KUBE_CONTEXT.yaml
  kubectl config view --minify --flatten --context "$KUBE_CONTEXT" >"$kubeconfig.tmp" \
    || die "kube context '$KUBE_CONTEXT' not found in ${KUBECONFIG:-~/.kube/config}"
  mv "$kubeconfig.tmp" "$kubeconfig"
else
  if [ "$action" != env ]; then
    bash tools/machine/system-deps.sh images node >&2              # Debian packages (when missing)
    bash tools/engine/build.sh "${LOCAL_CLUSTER_GROUPS[@]}" >&2   # the cluster's binaries (cached)
    bash tools/machine/docker-engine.sh start >&2
    bash tools/local-cluster/cluster.sh start >&2
  fi
  kubeconfig=$(bash tools/local-cluster/cluster.sh kubeconfig)
fi
export KUBECONFIG=$kubeconfig

# --- Docker: the private engine for the local cluster, the user's own with KUBE_CONTEXT ------------
# pulumi-docker pings the daemon in its Configure (previews too), so DOCKER_HOST must name an engine
# that runs. With KUBE_CONTEXT (a laptop with kind, a real cluster) that is the user's Docker as it
# is: their DOCKER_HOST when set, else the client's default socket; the private engine
# (tools/machine/docker-engine.sh) is neither started nor pointed at. Without KUBE_CONTEXT: the
# private engine started above, whose registry the local node pulls from.
if [ -z "${KUBE_CONTEXT:-}" ]; then
  eval "$(bash tools/machine/docker-engine.sh env)"
fi

if [ -z "${KUBE_CONTEXT:-}" ] && [ -z "${MBH_BASE_IMAGES:-}" ] && [ "$action" != env ]; then
  # The local control plane runs on machines that reach no public registry (this project's CI
  # kind): build on the forged stand-ins of the public base images (tools/standins/forge_bases.py;
  # they stay in the private engine and registry). With KUBE_CONTEXT (a laptop with kind, a real
  # cluster) the real base images are pulled as usual.
  MBH_BASE_IMAGES=$("$repo/.venv/bin/python" tools/standins/forge_bases.py --json) \
    || die "the stand-in base images could not be forged (tools/standins/forge_bases.py)"
  export MBH_BASE_IMAGES
  # The dev stack's PostgreSQL and Redis images, which the local node pulls from the project's
  # registry as from a mirror of Docker Hub.
  "$repo/.venv/bin/python" tools/standins/data_services.py >&2 \
    || die "the stand-in data-service images could not be forged (tools/standins/data_services.py)"
fi

if [ "$action" = env ]; then
  for v in PATH PULUMI_HOME PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE PULUMI_CONFIG_PASSPHRASE_FILE \
           PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION KUBECONFIG DOCKER_HOST \
           DOCKER_BUILDKIT MBH_BASE_IMAGES; do
    [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
  done
  exit 0
fi

# --- images: built by pulumi-docker, or prebuilt from the same specs ---------------------------
# The built toolchain has no docker provider (its module is not served by the Go module proxy):
# then the images are built and pushed by scripts/prebuilt_images.py from components/build_specs.py
# and deployed by digest through a generated copy of the stack's config (--config-file), so the
# tracked Pulumi.<stack>.yaml never changes. `up` and `preview` build (a code change shows as a
# new digest); `down`, `refresh` and `outputs` reuse the last digests.
images_mode=${MBH_IMAGES:-auto}
if [ "$images_mode" = auto ]; then
  images_mode=pulumi
  if [ -n "$built_toolchain" ] && ! bash tools/engine/build.sh --print-path | tr ':' '\n' | grep -q '/provider-docker-'; then
    images_mode=prebuilt
  fi
fi
config_args=()
case "$images_mode" in
  pulumi) ;;
  prebuilt)
    generated=$repo/.pulumi-state/config/Pulumi.$STACK.yaml
    reuse=--reuse
    case "$action" in up|preview) reuse="" ;; esac
    say "images: prebuilt from components/build_specs.py, deployed by digest ($generated)"
    cluster_settings=()
    # The local cluster's ingress class, controller address and app host (cluster.sh config).
    [ -n "${KUBE_CONTEXT:-}" ] || cluster_settings=(--cluster-settings "$(bash tools/local-cluster/cluster.sh config "$STACK")")
    "$repo/.venv/bin/python" scripts/prebuilt_images.py --stack "$STACK" --out "$generated" $reuse "${cluster_settings[@]}" >/dev/null
    config_args=(--config-file "$generated")
    ;;
  *) die "MBH_IMAGES=$images_mode: expected auto, pulumi or prebuilt" ;;
esac

pulumi stack select --create "$STACK" >&2
case "$action" in
  up) exec pulumi up --stack "$STACK" "${config_args[@]}" --yes "$@" ;;
  preview) exec pulumi preview --stack "$STACK" "${config_args[@]}" --diff "$@" ;;
  down) exec pulumi destroy --stack "$STACK" "${config_args[@]}" --yes "$@" ;;
  refresh) exec pulumi refresh --stack "$STACK" "${config_args[@]}" --yes "$@" ;;
  outputs) exec pulumi stack output --stack "$STACK" --json "$@" ;;
  *) die "unknown action $action: expected up, preview, down, refresh, outputs, env or check" ;;
esac
