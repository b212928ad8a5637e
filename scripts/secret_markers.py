"""Secret values as the mock engine carries them, and what of them may be shown.

Pulumi's wire form marks a secret `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
"value": ...}`; synth keeps that marker on every registered input and output, so a test can
`reveal` a value and everything written to disk is `redact`ed.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

SECRET_SIG_KEY = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_SIG = rpc._special_secret_sig
REDACTED = "<redacted: pulumi secret>"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def reveal(value: Any) -> Any:
    """Unwrap secret markers, keeping values (for assertions in tests only)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """Replace every secret (however deep) with a marker: what may be written or shown.

    A secret map keeps its keys (reviewers see which values a Secret holds).
    """
    if is_secret(value):
        inner = reveal(value)
        return {key: REDACTED for key in inner} if isinstance(inner, dict) else REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value

