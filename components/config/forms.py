"""The settings' leaf types: each a strict type, its checks, and its accepted form (`Form`),
which every message about it quotes ("expected <form>").

Hand-written checks are the ones no pinned library makes as the API server does (label values,
DNS-1123 names, image references); networks are pydantic's own IPvAnyNetwork.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Callable, Literal, Optional

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic.networks import IPvAnyNetwork

from components.quantity import QUANTITY_FORM, parse_quantity
from components.stack_file import engine_string

PROJECT = "mbhealth"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
# A DNS-1123 subdomain as the API server checks an object name (a StorageClass): at most 253.
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# imageTag is the images' Docker tag and the app.kubernetes.io/version label value (at most 63,
# (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?): exactly what is both.
LABEL_VALUE_MAX = 63
_RELEASE_TAG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_REPO_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_USERNAME = re.compile(r"^[^\s:/@]{1,255}$")
PINNED_RE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
_IMAGE_REPO = re.compile(r"^[a-z0-9][a-z0-9._-]*(?::[0-9]{1,5})?(/[a-z0-9][a-z0-9._-]*)*$")

PINNED_FORM = "an image pinned by digest: <registry>/<repository>@sha256:<64 hex digits>"


class Form:
    """The accepted form of a setting, as messages say it ("expected <text>")."""

    def __init__(self, text: str):
        self.text = text


class Empty:
    """The accepted form a message quotes when this setting is written empty (YAML null); `{form}` in
    it is the setting's own form."""

    def __init__(self, text: str):
        self.text = text


class Missing:
    """What a message says when this required setting is absent (instead of "missing; expected <form>");
    `{stack}` in either text is the stack's name."""

    def __init__(self, problem: str, expected: str):
        self.problem, self.expected = problem, expected


def shown(value: Any) -> str:
    """A value for a message: repr, with any URL password masked."""
    text = repr(value)
    return re.sub(r"(://[^/\s:@]*:)[^/\s@]+@", r"\1***@", text)


def versioned_image(ref: Any) -> bool:
    """A third-party image named with a version: repo:tag and/or repo@sha256:..., never latest."""
    if not isinstance(ref, str):
        return False
    name, _, digest = ref.partition("@")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return False
    last = name.rsplit("/", 1)[-1]
    repo, tag = (name.rsplit(":", 1) if ":" in last else (name, ""))
    if tag and (tag == "latest" or not _TAG.match(tag)):
        return False
    return bool(_IMAGE_REPO.match(repo)) and bool(tag or digest)


def _text(form: str, *checks: Callable[[str], Optional[str]]) -> Any:
    """A setting that is text as written (never a YAML number), checked by `checks`."""

    def validate(value: str) -> str:
        for check in checks:
            problem = check(value)
            if problem:
                raise ValueError(problem)
        return value

    return Annotated[str, Strict(), AfterValidator(validate), Form(form)]


def _matches(pattern: re.Pattern[str]) -> Callable[[str], Optional[str]]:
    return lambda value: None if pattern.match(value) else f"got {shown(value)}"


def _tag_problem(value: str) -> Optional[str]:
    """The release tag: a Docker tag that the API server also takes as a label value."""
    if value == "latest":
        return "'latest' is not allowed (deploys must name a release)"
    if _RELEASE_TAG.fullmatch(value):
        return None
    if not value or not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        return f"got {shown(value)}"
    if len(value) > LABEL_VALUE_MAX:
        return (f"got {shown(value)}, {len(value)} characters: the app.kubernetes.io/version label holds at most "
                f"{LABEL_VALUE_MAX}")
    end, char = ("starts", value[0]) if value[0] in "_.-" else ("ends", value[-1])
    return f"got {shown(value)}, which {end} with {char!r}: a label value {end} with a letter or digit"


def _registry_problem(value: str) -> Optional[str]:
    """host[:port][/path]: a DNS name, localhost or an IP address; a port 1-65535; a lower-case path."""
    address, _, path = value.partition("/")
    hostname, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        return f"port {port!r} of {value!r} is not a number from 1 to 65535"
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        if not _DNS_NAME.match(hostname.lower()):
            return f"got {shown(value)}"
    if path and not _REPO_PATH.match(path):
        return f"path {path!r} of {value!r} is not a lower-case repository path"
    return None


_NETWORK = TypeAdapter(IPvAnyNetwork)


def _cidr_problem(value: str) -> Optional[str]:
    if "/" not in value:
        return f"got {shown(value)} (no prefix length)"
    try:
        _NETWORK.validate_python(value)
    except ValidationError:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"got {shown(value)}"
        return f"{value!r} has host bits set (the network is {network})"
    return None


def _versioned_problem(value: str) -> Optional[str]:
    return None if versioned_image(value) else f"got {shown(value)}"


def _quantity(value: Any) -> Any:
    """A Kubernetes quantity above zero; a plain YAML number (cpu: 1) is taken as its text."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"got {shown(value)}")
    text = value if isinstance(value, str) else engine_string(value)
    try:
        amount = parse_quantity(text)
    except ValueError:
        raise ValueError(f"got {shown(value)}") from None
    if amount <= 0:
        raise ValueError(f"got {shown(value)}, not above zero")
    return text


def one_of(choices: tuple[str, ...]) -> Any:
    return Annotated[Literal[choices], Form("one of " + ", ".join(choices))]  # type: ignore[valid-type]


def _networks(form: str) -> Any:
    """A non-empty YAML list of networks, held as a tuple."""
    return Annotated[list[Cidr], Field(min_length=1), AfterValidator(tuple), PlainSerializer(list), Form(form)]



DnsLabel = _text("a DNS label: lower-case letters, digits and '-', at most 63", _matches(_DNS_LABEL))
DnsName = _text("a lower-case DNS name like app.example.com", _matches(_DNS_NAME))
SecretName = _text("a Kubernetes Secret name: a lower-case DNS name like mbhealth-tls", _matches(_DNS_NAME))
StorageClassName = _text("a StorageClass name: a DNS-1123 subdomain (lower-case letters, digits, '-', '.', at most "
                         "253) like standard or gp3-encrypted", _matches(_DNS_SUBDOMAIN))
IngressClass = _text("an IngressClass name: a lower-case DNS name like nginx", _matches(_DNS_NAME))
ImageTag = _text("a Docker tag that is also a label value (app.kubernetes.io/version): 1-63 of letters, digits, "
                 "'_', '.', '-', starting and ending with a letter or digit, e.g. 1.4.2 or a git SHA (never latest)",
                 _tag_problem)
RegistryServer = _text("a registry host with optional port (1-65535) and path, like localhost:5000 or ghcr.io/acme",
                       _registry_problem)
RegistryUser = _text("the registry user name (no spaces, ':', '/' or '@')", _matches(_USERNAME))
Cidr = _text("an IPv4 or IPv6 network in CIDR notation, like 10.0.0.0/8", _cidr_problem)
VersionedImage = _text("an image with a specific version tag or digest, like postgres:15.10-alpine (never latest)",
                       _versioned_problem)
PinnedImage = _text(PINNED_FORM, _matches(PINNED_RE))
LabelKey = _text("a label key like k8s-app or app.kubernetes.io/name", _matches(re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")))
LabelValue = _text("a label value: at most 63 of letters, digits, '-', '_', '.'", _matches(re.compile(
    r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")))
PodLabels = Annotated[dict[LabelKey, LabelValue], Strict(), Field(min_length=1),
                      Form("pod labels as a map, like {k8s-app: kube-dns}")]
Flag = Annotated[bool, Strict(), Form("true or false")]
IssuerName = _text("a cert-manager ClusterIssuer name: a lower-case DNS name like letsencrypt-prod", _matches(_DNS_NAME))
StackName = _text("a stack name like <org>/mbhealth/dev (whose `images` output is promoted)", _matches(_STACK_NAME))
Quantity = Annotated[str, BeforeValidator(_quantity), Form(QUANTITY_FORM)]
PositiveInt = Annotated[int, Strict(), Field(ge=1), Form("a whole number of at least 1")]
Port = Annotated[int, Strict(), Field(ge=1, le=65535), Form("a TCP port: a whole number from 1 to 65535")]
CidrList = _networks("a list of networks in CIDR notation, like [10.0.1.0/24]")
DnsCidrList = _networks("a list of networks in CIDR notation that answer DNS on port 53, like [169.254.20.10/32] "
                        "(a node-local DNS cache)")
Percent = Annotated[int, Strict(), Field(ge=1, le=100), Form("a whole number from 1 to 100")]
