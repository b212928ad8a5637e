"""Managed PostgreSQL and Redis (prod): check the secret URLs against the egress the stack allows.

The NetworkPolicies allow egress to each service only at the networks and port that plain
config names (`dataServices.postgres`/`dataServices.redis`: `cidrs`, `port`); they are never
parsed out of the secret URLs. A URL whose port differs, or whose host lies outside those
networks, would leave the backend and the worker unable to connect (never ready) behind a
policy that looks right. So before anything is deployed the program checks each URL, inside
the secret's `apply`, and fails with a message that never contains the URL, its host or its
password: only the key, the port, the addresses found and the configured networks.

Host names are resolved with the system resolver of the machine running `pulumi`; a name
that does not resolve there (a private zone only the cluster sees) cannot be checked and is
a warning, not an error. `make synth` never resolves (offline): `resolver` is swapped there.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Optional, Sequence
from urllib.parse import urlsplit

import pulumi

from components.config import (
    DEFAULT_PORTS,
    EXTERNAL_SERVICES,
    PROJECT,
    ExternalDataConfig,
    ExternalEndpoint,
    SecretConfigError,
)

RESOLVE_TIMEOUT_SECONDS = 5.0

# host name -> its addresses, or None when it cannot be resolved from here.
Resolver = Callable[[str], Optional[Sequence[str]]]


def system_resolver(host: str) -> Optional[list[str]]:
    """The host's addresses from this machine's resolver, or None (no answer within the timeout)."""
    found: list[list[str]] = []

    def lookup() -> None:
        try:
            found.append(sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}))
        except (OSError, UnicodeError):
            pass

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(RESOLVE_TIMEOUT_SECONDS)
    return found[0] if found else None


resolver: Resolver = system_resolver


@dataclass(frozen=True)
class Finding:
    problems: tuple[str, ...] = ()  # SecretConfigError lines: the deploy must not start
    unchecked: tuple[str, ...] = ()  # warnings: what could not be verified from here


def check_url(service: str, url: str, endpoint: ExternalEndpoint, resolve: Resolver) -> Finding:
    """Does `url` (a secret: never quoted) point inside what `endpoint` allows?"""
    key = EXTERNAL_SERVICES[service]
    setting = f"dataServices.{service}"
    parts = urlsplit(url)  # components.config has already refused what urlsplit cannot read
    port = parts.port or DEFAULT_PORTS[service]
    host = parts.hostname or ""
    problems, unchecked = [], []
    if port != endpoint.port:
        problems.append(
            f"{PROJECT}:{key}: the URL's port {port} is not {setting}.port {endpoint.port}, the only port the "
            f"NetworkPolicies allow to it (value hidden); expected the URL on port {endpoint.port}, or "
            f"{setting}.port: {port}")
    try:
        addresses: Optional[Sequence[str]] = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        addresses = resolve(host)
    networks = [ipaddress.ip_network(cidr) for cidr in endpoint.cidrs]
    allowed = ", ".join(endpoint.cidrs)
    if addresses is None:
        unchecked.append(
            f"{PROJECT}:{key}: its host name does not resolve from this machine, so it was not checked against "
            f"{setting}.cidrs ({allowed}); the NetworkPolicies allow only those networks on port {endpoint.port}")
    else:
        outside = [a for a in addresses if not any(ipaddress.ip_address(a) in net for net in networks)]
        if outside:
            problems.append(
                f"{PROJECT}:{key}: the URL's host (hidden) is at {', '.join(outside)}, outside {setting}.cidrs "
                f"({allowed}), the only networks the NetworkPolicies allow to it; expected a host inside them, "
                f"or its network added to {setting}.cidrs")
    return Finding(tuple(problems), tuple(unchecked))


def check_urls(config: ExternalDataConfig, urls: Sequence[str], resolve: Resolver) -> bool:
    """Check both URLs; raise SecretConfigError listing every problem, log what could not be checked."""
    problems: list[str] = []
    for service, url in zip(EXTERNAL_SERVICES, urls):
        finding = check_url(service, url, getattr(config, service), resolve)
        problems.extend(finding.problems)
        for warning in finding.unchecked:
            pulumi.log.warn(warning)
    if problems:
        raise SecretConfigError(problems)
    return True


def checked_egress(config: ExternalDataConfig) -> pulumi.Output[bool]:
    """True once both secret URLs are inside the configured egress; a failed check fails the deploy.

    Evaluated inside the secrets' apply (the values never leave it); the result carries no
    secret, so it is unsecreted for the Namespace that waits for it.
    """
    urls = pulumi.Output.all(config.database_url, config.redis_url)
    return pulumi.Output.unsecret(urls.apply(lambda values: check_urls(config, values, resolver)))
