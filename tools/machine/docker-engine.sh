#!/usr/bin/env bash
# A private Docker engine and OCI registry for the real-image suite (host networking only).
#
# Usage: tools/machine/docker-engine.sh start|stop|status|env
#   start   start dockerd and the registry unless they already run; wait until both answer
#   stop    stop both (SIGTERM, then wait; SIGKILL only after a timeout)
#   status  print what runs; exit 0 when both answer, 1 otherwise
#   env     print the shell exports clients need:  eval "$(tools/machine/docker-engine.sh env)"
#
# Installs nothing: `tools/machine/system-deps.sh images` (as root) installs docker.io,
# docker-registry and debootstrap. Every client must use /usr/bin/docker (Debian's
# 20.10 client; a newer /usr/local/bin/docker refuses BuildKit without buildx) with
# DOCKER_BUILDKIT=1 and DOCKER_HOST pointing at this engine's own socket.
#
# The engine never creates a bridge, touches iptables or enables ip forwarding:
# builds and containers use `--network host` and talk to loopback only.
#
# Settings (environment):
#   MBH_DOCKER_STATE  engine data root, registry storage and logs (default
#                     /var/lib/mbhealth-docker: the layer cache survives between runs)
#   MBH_DOCKER_SOCK   the engine's socket (default /run/mbhealth-docker.sock; a dedicated
#                     socket, so an engine a developer already runs is never touched)
#   MBH_REGISTRY_ADDR registry listen address (default 127.0.0.1:5000)
set -euo pipefail

STATE=${MBH_DOCKER_STATE:-/var/lib/mbhealth-docker}
SOCK=${MBH_DOCKER_SOCK:-/run/mbhealth-docker.sock}
REGISTRY_ADDR=${MBH_REGISTRY_ADDR:-127.0.0.1:5000}
RUN_DIR=${MBH_DOCKER_RUN:-/run/mbhealth-docker}
DOCKER=/usr/bin/docker
DOCKERD_PID=$RUN_DIR/dockerd.pid
REGISTRY_PID=$RUN_DIR/registry.pid
START_TIMEOUT=${MBH_DOCKER_START_TIMEOUT:-60}
STOP_TIMEOUT=${MBH_DOCKER_STOP_TIMEOUT:-60}

export DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=1

log() { echo "docker-engine: $*" >&2; }
die() { log "$*"; exit 1; }

# pid from a pidfile when that process is alive and runs the expected program.
live_pid() { # pidfile program
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
  echo "$pid"
}

engine_ok() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
registry_ok() { curl -sf --noproxy '*' --max-time 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

wait_for() { # description check-function timeout-seconds
  local deadline=$((SECONDS + $3))
  until "$2"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

need() {
  local missing=()
  [ -x "$DOCKER" ] || missing+=("$DOCKER (docker.io)")
  command -v dockerd >/dev/null || missing+=("dockerd (docker.io)")
  command -v docker-registry >/dev/null || missing+=("docker-registry")
  command -v curl >/dev/null || missing+=("curl")
  [ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} — run: sudo bash tools/machine/system-deps.sh images"
  [ "$(id -u)" -eq 0 ] || die "dockerd needs root"
}

start_engine() {
  local pid
  if pid=$(live_pid "$DOCKERD_PID" dockerd); then
    wait_for engine engine_ok "$START_TIMEOUT" || die "dockerd (pid $pid) does not answer on $SOCK; see $STATE/dockerd.log"
    log "dockerd already running (pid $pid) on $SOCK"
    return
  fi
  if [ -S "$SOCK" ] && engine_ok; then
    die "another engine answers on $SOCK without our pidfile $DOCKERD_PID; stop it or set MBH_DOCKER_SOCK"
  fi
  rm -f "$SOCK" "$DOCKERD_PID"
  release_mounts
  # A killed engine's containerd pidfile would make dockerd wait for a dead containerd.
  live_pid "$RUN_DIR/exec/containerd/containerd.pid" containerd >/dev/null || rm -f "$RUN_DIR/exec/containerd/containerd.pid"
  mkdir -p "$STATE/engine" "$RUN_DIR/exec"
  # Our own (empty) daemon config, so /etc/docker/daemon.json never changes this engine.
  [ -f "$STATE/daemon.json" ] || echo '{}' >"$STATE/daemon.json"
  log "starting dockerd (data root $STATE/engine, socket $SOCK)"
  setsid dockerd \
    --config-file "$STATE/daemon.json" \
    --data-root "$STATE/engine" \
    --exec-root "$RUN_DIR/exec" \
    --pidfile "$DOCKERD_PID" \
    --host "unix://$SOCK" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver overlay2 \
    </dev/null >>"$STATE/dockerd.log" 2>&1 &
  local launched=$!
  if ! wait_for engine engine_ok "$START_TIMEOUT"; then
    tail -n 30 "$STATE/dockerd.log" >&2 || true
    kill "$launched" 2>/dev/null || true
    die "dockerd did not answer on $SOCK within ${START_TIMEOUT}s (log: $STATE/dockerd.log)"
  fi
  log "dockerd $("$DOCKER" version --format '{{.Server.Version}}') ready (pid $(cat "$DOCKERD_PID"))"
}

start_registry() {
  local pid
  if pid=$(live_pid "$REGISTRY_PID" docker-registry); then
    wait_for registry registry_ok "$START_TIMEOUT" || die "registry (pid $pid) does not answer on $REGISTRY_ADDR"
    log "registry already running (pid $pid) on $REGISTRY_ADDR"
    return
  fi
  if registry_ok; then
    die "something else already answers on http://$REGISTRY_ADDR/v2/ (not started by this script); stop it or set MBH_REGISTRY_ADDR"
  fi
  mkdir -p "$STATE/registry"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  fields:
    service: mbhealth-registry
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  log "starting registry on $REGISTRY_ADDR (storage $STATE/registry)"
  setsid docker-registry serve "$STATE/registry.yml" </dev/null >>"$STATE/registry.log" 2>&1 &
  echo $! >"$REGISTRY_PID"
  if ! wait_for registry registry_ok "$START_TIMEOUT"; then
    tail -n 30 "$STATE/registry.log" >&2 || true
    die "registry did not answer on $REGISTRY_ADDR within ${START_TIMEOUT}s (log: $STATE/registry.log)"
  fi
  log "registry ready (pid $(cat "$REGISTRY_PID"))"
}

stop_pid() { # name pidfile program
  local pid
  if ! pid=$(live_pid "$2" "$3"); then
    rm -f "$2"
    log "$1 not running"
    return
  fi
  log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "$1 (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$2"
}

# dockerd bind-mounts its data root (and netns files under the exec root); a killed
# engine leaves them behind. Unmount what is left once no engine runs there.
release_mounts() {
  live_pid "$DOCKERD_PID" dockerd >/dev/null && return
  local mnt
  awk -v a="$STATE/engine" -v b="$RUN_DIR/exec" \
    'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || log "could not unmount $mnt"
  done
}

status() {
  local rc=0 pid
  if pid=$(live_pid "$DOCKERD_PID" dockerd) && engine_ok; then
    echo "dockerd:  running (pid $pid), DOCKER_HOST=unix://$SOCK, data root $STATE/engine"
  else
    echo "dockerd:  not running"; rc=1
  fi
  if pid=$(live_pid "$REGISTRY_PID" docker-registry) && registry_ok; then
    echo "registry: running (pid $pid), http://$REGISTRY_ADDR, storage $STATE/registry"
  else
    echo "registry: not running"; rc=1
  fi
  return $rc
}

case "${1:-}" in
  start)
    need
    mkdir -p "$STATE" "$RUN_DIR"
    start_engine
    start_registry
    ;;
  stop)
    # The engine first: it stops its containers and its managed containerd.
    stop_pid dockerd "$DOCKERD_PID" dockerd
    stop_pid registry "$REGISTRY_PID" docker-registry
    rm -f "$SOCK"
    release_mounts
    ;;
  status) status ;;
  env)
    echo "export DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=1 MBH_REGISTRY=${REGISTRY_ADDR/127.0.0.1/localhost}"
    ;;
  *)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
