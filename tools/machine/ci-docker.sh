#!/usr/bin/env bash
# Sourced by .ci/run: the Docker engine, the local registry and the stand-in bases for
# the real-image suite (tests/images). Bash only.
#
#   source tools/machine/ci-docker.sh
#   mbh_docker_up            # install (as root), start engine + registry, forge stand-ins,
#                            # export DOCKER_HOST, DOCKER_BUILDKIT=1, MBH_REQUIRE_DOCKER=1
#   ... run pytest ...
#   mbh_docker_down          # stop engine + registry (call it from .ci/run's EXIT trap)
#
# MBH_REQUIRE_DOCKER=1 turns "no engine" in tests/images into failures, so CI never
# skips the suite silently. The engine's data root (/var/lib/mbhealth-docker) and the
# debootstrap cache (/var/cache/mbhealth-bases) persist between runs on one machine.

_mbh_repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }

mbh_docker_up() {
  local root started
  root=$(_mbh_repo_root)
  started=$SECONDS
  bash "$root/tools/machine/system-deps.sh" images || return
  "$root/tools/machine/docker-engine.sh" start || return
  eval "$("$root/tools/machine/docker-engine.sh" env)"
  export MBH_REQUIRE_DOCKER=1
  # Forge (or reuse) the stand-in base images now, so a failure here reads as one.
  python3 "$root/tools/standins/forge_bases.py" || return
  echo "ci-docker: engine, registry and stand-ins ready in $((SECONDS - started))s (DOCKER_HOST=$DOCKER_HOST)"
}

mbh_docker_down() {
  local root
  root=$(_mbh_repo_root)
  "$root/tools/machine/docker-engine.sh" stop || true
}
