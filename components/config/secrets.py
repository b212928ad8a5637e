"""The stack's secrets: which keys hold credentials, the shape each must have, and the field type
that holds one as a `pulumi.Output[str]` (never in a repr, a dump or a message)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

import pulumi
from pydantic import Field, PlainValidator
from pydantic_core import PydanticCustomError

from components.config.model import problems

# Keys that hold credentials: only ever Pulumi secrets (`pulumi config set --secret`).
SECRET_KEYS = ("secretKey", "databaseUrl", "redisUrl", "registryPassword", "registryPullPassword", "tlsCertificate",
               "tlsKey")
SECRET_KEY_MIN_LENGTH = 32
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")  # what the backend accepts
REDIS_SCHEMES = ("redis", "rediss")


class SecretText(str):
    """A secret's plaintext as the program received it (a Pulumi secret): validated, then wrapped."""

    def __repr__(self) -> str:
        return "'<secret>'"


class Plaintext(SecretText):
    """A secret key committed in plain text: reported by the reader; it counts as given."""


class Secret:
    """Marks a field that holds the secret `key` (a top-level config key): messages name that key."""

    def __init__(self, key: str):
        self.key = key


def secret_command(stack: str, key: str, value: str = "<value>") -> str:
    return f"pulumi config set --secret --stack {stack} {key} {value}"


def secret_problem(key: str, value: str) -> Optional[tuple[str, str]]:
    """(problem, expected) for a malformed secret; never quotes the value."""
    if key == "secretKey" and len(value) < SECRET_KEY_MIN_LENGTH:
        return (f"{len(value)} characters (value hidden)",
                f"a secret of at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. $(openssl rand -hex 32)")
    if key in ("databaseUrl", "redisUrl"):
        schemes = POSTGRES_SCHEMES if key == "databaseUrl" else REDIS_SCHEMES
        example = ("postgresql://user:password@host:5432/db" if key == "databaseUrl"
                   else "rediss://:password@host:6380/0")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return "not a valid URL (value hidden)", f"a URL like {example}"
        if parts.scheme not in schemes or not parts.hostname:
            return ("not a " + ("PostgreSQL" if key == "databaseUrl" else "Redis") + " URL (value hidden)",
                    f"a URL with scheme {' or '.join(s + '://' for s in schemes)} and a host, like {example}")
    if key == "registryPassword" and not value:
        return "empty", "the registry token that pushes"
    if key == "registryPullPassword" and not value:
        return "empty", "the registry token that reads (pulls)"
    if key == "tlsCertificate" and "-----BEGIN CERTIFICATE-----" not in value:
        return ("not a PEM certificate (value hidden)",
                "the PEM certificate chain, leaf first: pulumi config set --secret tlsCertificate < tls.crt")
    if key == "tlsKey" and not re.search(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----", value):
        return ("not a PEM private key (value hidden)",
                "the certificate's PEM private key: pulumi config set --secret tlsKey < tls.key")
    return None


def _secret_value(key: str) -> Any:
    def validate(value: Any, info: Any) -> Optional[pulumi.Output[str]]:
        if isinstance(value, pulumi.Output):
            return value
        if isinstance(value, Plaintext):
            return None  # refused by the reader, with the command that makes it a secret
        if not isinstance(value, SecretText):  # a key of the plain config: none of the setting's
            raise PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")
        bad = secret_problem(key, value)
        if bad and info.context is None:
            raise problems((f":{key}", *bad))
        if bad:  # reported on its own: the setting that holds it is still judged by its rules
            info.context.setdefault("secrets", []).append((key, *bad))
        return pulumi.Output.secret(str(value))

    return validate


def secret(key: str) -> Any:
    """The type of secret `key`: a `pulumi.Output[str]`, validated from the secret's plaintext."""
    return Annotated[pulumi.Output[str], PlainValidator(_secret_value(key)), Secret(key)]


def hidden(key: str, required: bool = False) -> Any:
    """The field of secret `key` (its alias): out of the repr and of any dump."""
    return Field(alias=key, repr=False, exclude=True) if required else Field(None, alias=key, repr=False, exclude=True)


def given(data: Any, key: str) -> bool:
    """Whether the raw input of a model holds the secret `key` (as a secret or committed in plain text)."""
    return isinstance(data, dict) and isinstance(data.get(key), SecretText)


def held(data: Any, key: str) -> bool:
    """Whether the raw input holds `key` as a Pulumi secret (not committed in plain text)."""
    return given(data, key) and not isinstance(data.get(key), Plaintext)
