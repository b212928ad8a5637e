#!/bin/sh
# Entrypoint of the frontend image's production target.
#
# Renders the nginx template into a writable runtime dir (the root filesystem may be
# read-only; only /tmp needs to be writable) and then execs nginx in the foreground, so
# nginx is PID 1 and receives the stop signal itself (SIGQUIT: graceful, SIGTERM: fast).
#
# Environment:
#   BACKEND_URL        required. The API as scheme://host[:port], no path, e.g.
#                      http://backend.mbhealth.svc.cluster.local:8000. The host is resolved
#                      per request (not once at start): nginx starts, and recovers without a
#                      restart, while the name does not resolve yet. nginx's resolver applies
#                      no search domains: give the full name (or an address). A name in
#                      /etc/hosts (hostAliases, --add-host) is taken from there at start.
#   NGINX_RESOLVER     the DNS servers for that, space-separated address[:port] ([v6]:port)
#                      (default: every nameserver of /etc/resolv.conf, the cluster DNS in a pod)
#   NGINX_LISTEN       listen port or address:port          (default 8080)
#   NGINX_ROOT         directory of the built app           (default /usr/share/nginx/html)
#   NGINX_RUNTIME_DIR  rendered config, pid and temp files   (default /tmp/nginx)
#   NGINX_TEMPLATE     the template                          (default /etc/nginx/frontend/nginx.conf.template)
# Arguments are passed on to nginx: `-t` only tests the rendered configuration.
set -eu

die() {
    echo "entrypoint: $*" >&2
    exit 64
}

# Values end up inside nginx directives: refuse anything that could end or add one.
check_token() {
    case "$2" in
        '' | *[[:space:]\;\{\}\$\'\"\\]*) die "$1 is empty or contains whitespace or one of ;{}\$'\"\\ : '$2'" ;;
    esac
}

BACKEND_URL=${BACKEND_URL:-}
[ -n "$BACKEND_URL" ] || die "BACKEND_URL is not set (the API's base URL, e.g. http://backend:8000)"
BACKEND_URL=${BACKEND_URL%/}
check_token BACKEND_URL "$BACKEND_URL"
case "$BACKEND_URL" in
    http://?* | https://?*) ;;
    *) die "BACKEND_URL must start with http:// or https://, got '$BACKEND_URL'" ;;
esac
case "${BACKEND_URL#*://}" in
    */* | *\?* | *#*) die "BACKEND_URL must be scheme://host[:port] without a path, got '$BACKEND_URL'" ;;
esac

# A name the container's /etc/hosts gives (a pod's hostAliases, `docker run --add-host`) is taken
# from there now, as the system resolver would: nginx's resolver asks DNS only.
authority=${BACKEND_URL#*://}
case "$authority" in
    \[*) ;; # an IPv6 address
    *)
        host=${authority%%:*}
        address=$(awk -v name="$host" '$1 !~ /^#/ {
            for (i = 2; i <= NF && $i !~ /^#/; i++) if (tolower($i) == tolower(name)) { print $1; exit } }' /etc/hosts 2>/dev/null)
        case "$address" in
            "") ;;
            *:*) BACKEND_URL="${BACKEND_URL%%://*}://[$address]${authority#"$host"}" ;;
            *) BACKEND_URL="${BACKEND_URL%%://*}://$address${authority#"$host"}" ;;
        esac
        ;;
esac

# Zone-scoped addresses (fe80::1%eth0) are left out: nginx cannot use them.
NGINX_RESOLVER=${NGINX_RESOLVER:-$(awk '$1 == "nameserver" && $2 !~ /%/ {
    printf "%s%s", sep, ($2 ~ /:/ ? "[" $2 "]" : $2); sep = " " }' /etc/resolv.conf 2>/dev/null)}
[ -n "$NGINX_RESOLVER" ] ||
    die "NGINX_RESOLVER is not set and /etc/resolv.conf names no nameserver (DNS servers, e.g. 10.96.0.10 or [fd00::a]:53)"
for server in $NGINX_RESOLVER; do
    printf '%s\n' "$server" | grep -Eqx '([0-9.]+|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?' ||
        die "NGINX_RESOLVER must be DNS servers as address[:port] or [v6-address]:port, space-separated, got '$NGINX_RESOLVER'"
done

NGINX_LISTEN=${NGINX_LISTEN:-8080}
check_token NGINX_LISTEN "$NGINX_LISTEN"
NGINX_ROOT=${NGINX_ROOT:-/usr/share/nginx/html}
check_token NGINX_ROOT "$NGINX_ROOT"
case "$NGINX_ROOT" in
    /*) ;;
    *) die "NGINX_ROOT must be an absolute path, got '$NGINX_ROOT'" ;;
esac
NGINX_RUNTIME_DIR=${NGINX_RUNTIME_DIR:-/tmp/nginx}
NGINX_TEMPLATE=${NGINX_TEMPLATE:-/etc/nginx/frontend/nginx.conf.template}
export BACKEND_URL NGINX_LISTEN NGINX_ROOT NGINX_RESOLVER

mkdir -p "$NGINX_RUNTIME_DIR"
conf="$NGINX_RUNTIME_DIR/nginx.conf"
# Only these are substituted: nginx's own $variables in the template stay as written.
# shellcheck disable=SC2016
envsubst '${BACKEND_URL} ${NGINX_LISTEN} ${NGINX_ROOT} ${NGINX_RESOLVER}' <"$NGINX_TEMPLATE" >"$conf"

exec nginx -p "$NGINX_RUNTIME_DIR/" -c "$conf" -e stderr -g 'daemon off;' "$@"
