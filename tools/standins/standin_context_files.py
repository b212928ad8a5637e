"""The files the stand-ins' Dockerfile copies in besides node and npm: the official nginx image's config and
entrypoints, the node image's entrypoint, and assemble.py (lays out the shell-less and busybox root filesystems)."""

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
