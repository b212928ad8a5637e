#!/usr/bin/env bash
# Installs the Debian packages the test suites use, when they are missing.
# Usage: tools/machine/system-deps.sh [services|images|node|all]...   (default: services)
#   services: PostgreSQL, Redis, nginx (+ envsubst) and Chromium for the app tests, dnsmasq (a DNS
#             server on loopback: the frontend resolves the API's name per request); jq for the
#             workflow step tests (tests/unit/test_deploy_workflow.py runs deploy.yml's scripts)
#   images:   a Docker engine, a registry and debootstrap for the real-image suite; skopeo for the
#             workflow scripts' registry checks and copies (tests/e2e/test_workflows.py)
#   node:     the local cluster's node (tools/local-cluster): containerd and runc, the CNI plugins,
#             iptables and ipset (kube-proxy, kube-router), busybox-static (the storage helper's
#             image), nss-myhostname (*.localhost names resolve to loopback: the app's URL),
#             gcc and libc6-dev (the pause program is built statically, tools/engine/pause)
# Without root or apt-get it only reports what is missing; the suites that need a
# missing binary then skip with a one-line reason (CI makes them fail instead).
set -euo pipefail

services=(postgresql redis-server nginx-light gettext-base dnsmasq-base chromium chromium-driver jq)
images=(docker.io docker-registry debootstrap skopeo)
node=(containerd runc containernetworking-plugins iptables ipset busybox-static libnss-myhostname openssl curl
      gcc libc6-dev)
wanted=()
for group in "${@:-services}"; do
  case "$group" in
    services) wanted+=("${services[@]}") ;;
    images) wanted+=("${images[@]}") ;;
    node) wanted+=("${node[@]}") ;;
    all) wanted+=("${services[@]}" "${images[@]}" "${node[@]}") ;;
    *) echo "usage: $0 [services|images|node|all]..." >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-deps: missing Debian packages (install them to run every suite): ${missing[*]}" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages must not start their services: the tests start their own on loopback.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
