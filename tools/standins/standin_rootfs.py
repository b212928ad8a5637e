"""The stand-ins' root filesystem: one `debootstrap --variant=minbase bookworm`, slimmed like
debian:bookworm-slim and cached as a tarball under CACHE_DIR, keyed by its recipe."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from forge_machine import CACHE_DIR, ForgeError, debian_mirror, log

SUITE = "bookworm"

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
