"""A real DNS server on loopback for the tests: dnsmasq, authoritative for cluster.local as a
cluster's DNS is (a name it has not been given is NXDOMAIN), names added while it runs.

The frontend's nginx resolves the API's name per request through its `resolver` (NGINX_RESOLVER),
which reads no /etc/hosts: where a test has no cluster DNS, this one stands in for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import free_port


def find_dnsmasq() -> str | None:
    return shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/usr/local/sbin")


@dataclass
class DnsServer:
    """dnsmasq on loopback, authoritative for cluster.local like a cluster's DNS: a name it has not
    been given is NXDOMAIN; `add` makes one resolve (as a Service created later does)."""

    proc: subprocess.Popen[bytes]
    port: int
    base: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, ip: str) -> None:
        with open(self.base / "hosts", "a") as hosts:
            hosts.write(f"{ip} {name}\n")
        self.proc.send_signal(signal.SIGHUP)  # re-reads the hosts file

    def log(self) -> str:
        return (self.base / "dnsmasq.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)


def start_dns_server(dnsmasq: str) -> DnsServer:
    """dnsmasq on a free loopback port, knowing no name yet."""
    base = Path(tempfile.mkdtemp(prefix="mbh-frontend-dns-"))
    os.chmod(base, 0o755)  # dnsmasq started as root reads the hosts file as nobody
    (base / "hosts").touch(mode=0o644)
    port = free_port()
    with open(base / "dnsmasq.log", "ab") as log:
        proc = subprocess.Popen(
            [dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--no-resolv", "--no-hosts",
             "--local=/cluster.local/", f"--addn-hosts={base / 'hosts'}", "--listen-address=127.0.0.1",
             "--bind-interfaces", f"--port={port}", "--cache-size=0", "--log-facility=-"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    server = DnsServer(proc, port, base)
    deadline = time.monotonic() + 10
    while True:  # up once its TCP listener accepts
        if proc.poll() is not None:
            log_text = server.log()
            server.stop()
            raise RuntimeError(f"dnsmasq exited with {proc.returncode} on start:\n{log_text}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("dnsmasq did not listen within 10 s") from None
            time.sleep(0.05)
