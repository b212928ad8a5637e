"""Kubernetes resource quantities ("250m", "512Mi", "1.5", "2G") parsed to exact decimals.

The grammar follows k8s.io/apimachinery's `resource.Quantity`: a signed decimal
number followed by an optional binary-SI suffix (Ki Mi Gi Ti Pi Ei), decimal-SI
suffix (n u m k M G T P E) or decimal exponent (e3, E-2). No spaces, no other units.
Hand-written: no pinned runtime package parses quantities (pulumi-kubernetes has no parser; the
`kubernetes` client's parse_quantity would bring the whole API client into the runtime for it).
"""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)

QUANTITY_FORM = (
    "a Kubernetes quantity: a number with an optional suffix, no spaces "
    "(CPU like '250m' or '1.5'; memory and storage like '512Mi', '2Gi' or '500M')"
)


def parse_quantity(text: str) -> Decimal:
    """Return the quantity's value in base units; ValueError when it is not a quantity."""
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not {QUANTITY_FORM}")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))
