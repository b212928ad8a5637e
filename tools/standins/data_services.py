#!/usr/bin/env python3
"""Offline stand-ins for the dev stack's data-service images, `postgres:15.10-alpine` and
`redis:7.4.1-alpine`, so the committed dev stack's pod specs run unchanged on the local node.

Made like the other stand-ins (forge_bases.py): on the forged Debian image, from Debian's
packages (PostgreSQL 15, Redis 7), pushed to the project's registry only, under the names a
registry mirror of Docker Hub would serve (`<registry>/library/postgres:15.10-alpine`): the
local node's containerd mirrors docker.io to the project's registry, so `postgres:15.10-alpine`
resolves there and nowhere else. They honour what the dev stack relies on of the official images:

- postgres: user `postgres` with the alpine image's uid/gid 70; `PGDATA` (default
  /var/lib/postgresql/data); on a first start with an empty `PGDATA`, initdb as `POSTGRES_USER`
  with `POSTGRES_PASSWORD` (required unless `POSTGRES_HOST_AUTH_METHOD=trust`), scram-sha-256
  for TCP clients, the database `POSTGRES_DB` (default: the user's name), the scripts in
  /docker-entrypoint-initdb.d, behind a temporary server on the unix socket only (so TCP
  probes fail until the real server listens, as with the official image); then `postgres`
  listening on every address; `pg_isready` and `psql` on PATH; SIGINT stops it (fast shutdown).
- redis: `redis-server`/`redis-cli` on PATH, WORKDIR /data, the arguments run as given (the
  official entrypoint's `redis-server` default, and a leading `-option` goes to redis-server).

Usage: tools/standins/data_services.py [--json]   (a library too: `forge()`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import forge_bases  # noqa: E402
from forge_bases import REGISTRY, STANDIN_LABEL, ForgeError, docker, image_inspect, log, push, registry_has  # noqa: E402
from forge_machine import forge_lock  # noqa: E402

STANDS_FOR = {"postgres:15.10-alpine": "postgres", "redis:7.4.1-alpine": "redis"}

DOCKERFILE = r"""
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE} AS debian
ARG STANDIN_RECIPE
LABEL org.mbhealth.standin=true \
      org.mbhealth.standin.key=${STANDIN_RECIPE} \
      org.opencontainers.image.description="Offline stand-in data-service image (Debian bookworm); never leaves this machine"

FROM debian AS postgres
# The alpine image's postgres user (uid/gid 70), made before the package makes one of its own.
RUN groupadd --system --gid 70 postgres \
 && useradd --system --uid 70 --gid 70 --home-dir /var/lib/postgresql --shell /bin/sh postgres
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/postgresql/15 /etc/postgresql /var/log/apt/* /var/log/dpkg.log \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 3777 /var/run/postgresql
COPY --chmod=755 postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
LABEL org.mbhealth.standin.for=postgres:15.10-alpine
USER postgres
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]

FROM debian AS redis
RUN groupadd --system --gid 999 redis && useradd --system --uid 999 --gid 999 --home-dir /data redis
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null \
 && rm -rf /etc/redis /var/log/apt/* /var/log/dpkg.log \
 && mkdir -p /data && chown redis:redis /data
COPY --chmod=755 redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
LABEL org.mbhealth.standin.for=redis:7.4.1-alpine
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
"""

POSTGRES_ENTRYPOINT = r"""#!/bin/sh
# The official postgres image's contract (docker-library/postgres docker-entrypoint.sh), as the
# dev stack uses it: non-root, PGDATA, POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB, initdb scripts.
set -eu
case "${1:-postgres}" in -*) set -- postgres "$@" ;; esac
[ "${1:-postgres}" = postgres ] || exec "$@"
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}" "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host="$POSTGRES_HOST_AUTH_METHOD" -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  # The temporary server listens on the unix socket only, as the official image's does.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
      -c "CREATE DATABASE \"$POSTGRES_DB\";"
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; . "$f" ;;
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
"""

REDIS_ENTRYPOINT = r"""#!/bin/sh
# The official redis image's contract: `redis-server` by default, a leading option goes to it.
set -eu
case "${1:-redis-server}" in -*) set -- redis-server "$@" ;; esac
exec "$@"
"""


def ref(stands_for: str, registry: str = REGISTRY) -> str:
    """Where a mirror of Docker Hub serves it: <registry>/library/<name>:<tag>."""
    return f"{registry}/library/{stands_for}"


def recipe_key() -> str:
    digest = hashlib.sha256(forge_bases.recipe_key().encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _current(key: str) -> bool:
    for stands_for in STANDS_FOR:
        info = image_inspect(ref(stands_for))
        if not info or (info["Config"].get("Labels") or {}).get(f"{STANDIN_LABEL}.key") != key:
            return False
        if not registry_has(ref(stands_for)):
            return False
    return True


def forge() -> dict[str, str]:
    """Build (or reuse) and push both; {the official ref: its stand-in in the project's registry}."""
    with forge_lock():
        return _forge()


def _forge() -> dict[str, str]:
    key = recipe_key()
    started = time.monotonic()
    if not _current(key):
        base = forge_bases.ensure_debian_image(forge_bases.recipe_key())
        with tempfile.TemporaryDirectory(prefix="data-standins-") as ctx:
            context = Path(ctx)
            (context / "Dockerfile").write_text(DOCKERFILE)
            (context / "postgres-entrypoint.sh").write_text(POSTGRES_ENTRYPOINT)
            (context / "redis-entrypoint.sh").write_text(REDIS_ENTRYPOINT)
            for stands_for, target in STANDS_FOR.items():
                t0 = time.monotonic()
                proc = docker("build", "--network", "host", "--target", target,
                              "--build-arg", f"DEBIAN_IMAGE={base}", "--build-arg", f"STANDIN_RECIPE={key}",
                              "--tag", ref(stands_for), "--progress", "plain", str(context), check=False)
                if proc.returncode != 0:
                    raise ForgeError(f"building {ref(stands_for)} failed:\n{proc.stderr[-5000:]}")
                push(ref(stands_for))
                log(f"built and pushed {ref(stands_for)} (stand-in for {stands_for}) in {time.monotonic() - t0:.0f}s")
    result = {stands_for: ref(stands_for) for stands_for in STANDS_FOR}
    log(f"data-service stand-ins ready in {time.monotonic() - started:.1f}s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print {official ref: stand-in ref} as JSON")
    args = parser.parse_args(argv)
    try:
        refs = forge()
    except ForgeError as exc:
        log(str(exc))
        return 1
    print(json.dumps(refs, indent=2, sort_keys=True) if args.json else
          "\n".join(f"{real:22} -> {standin}" for real, standin in refs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
