"""The stack file (`Pulumi.<stack>.yaml`) as the Pulumi CLI reads it, and as the user wrote it.

Hand-written scalar rules and JSON: no Python YAML library resolves as yaml.v3 (PyYAML: `yes` is true, `1e3` text; ruamel.yaml: `0123` is 123, Go 83), none writes floats as Go's encoding/json; PyYAML composes the nodes.

The CLI decodes the file with Go's yaml.v3 (YAML 1.2 core schema, plus Go's octal `0123`)
and hands the program every value as a string: text as written, a number or boolean as
its JSON text (`1.10` -> "1.1", `0123456` -> "42798"), an empty value as "null", an
object as JSON. `scripts/synth.py` builds the same strings from the same file
(`engine_strings`), so both paths give the program the same config.

The program reads the file again here to learn how each scalar was *written* (its YAML
type and source text, line and column): a string setting written as a YAML number or
left empty is refused with a "write it in quotes" message instead of being silently
reinterpreted. No Pulumi import: plain data, usable from the synth and the tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

SECURE = "secure"  # `key: {secure: <ciphertext>}`: a secret only the CLI can decrypt
_PLAIN = "!mbhealth/plain"  # marker tag: a plain (unquoted, untagged) scalar, resolved below
_STR = "tag:yaml.org,2002:str"


class StackFileError(ValueError):
    """The stack file cannot be read: one line, `file:line:column: problem`."""


@dataclass(frozen=True)
class Written:
    """One scalar as the stack file wrote it."""

    text: str  # the source text ('' for an empty value)
    kind: str  # str | int | float | bool | null | timestamp
    line: int  # 1-based
    column: int  # 1-based
    quoted: bool = False

    @property
    def is_text(self) -> bool:
        return self.kind == "str"


@dataclass(frozen=True)
class StackFile:
    path: Path
    # Every key of `config:` ("<namespace>:<key>") with its value as the CLI decodes it
    # (Python types for Go's: str, int, float, bool, None, GoTime, list, dict).
    values: Mapping[str, Any] = field(default_factory=dict)
    secure: frozenset[str] = frozenset()  # keys holding ciphertext
    # How each scalar was written, by path: ("mbhealth:services", "backend", "replicas").
    written: Mapping[tuple[str, ...], Written] = field(default_factory=dict)


class GoTime(str):
    """A YAML timestamp as the CLI passes it on (Go's time.Time.String())."""


class _Loader(yaml.SafeLoader):
    """Composes nodes only; plain scalars keep a marker tag and are resolved as yaml.v3 does."""

    yaml_implicit_resolvers: dict = {}

    def resolve(self, kind, value, implicit):  # noqa: D401 - PyYAML's hook
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_FLOAT_SPECIAL = {
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_TIMESTAMP = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2})(?:\.(?P<f>\d+))?"
    r"(?:[ \t]*(?P<tz>Z|[-+]\d{1,2}(?::?\d{2})?))?)?$"
)
_INT64 = (-(2**63), 2**63 - 1)


def _go_int(text: str) -> Optional[int]:
    """strconv.ParseInt(text, 0, 64) then ParseUint: 0x.., 0o.., 0b.., and a leading 0 is octal."""
    match = re.fullmatch(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)", text)
    if not match:
        return None
    sign, digits = match.groups()
    lower = digits.lower()
    if lower.startswith(("0x", "0o", "0b")):
        value = int(digits[2:], {"x": 16, "o": 8, "b": 2}[lower[1]])
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    value = -value if sign == "-" else value
    return value if _INT64[0] <= value <= 2**64 - 1 else None


def resolve_plain(text: str) -> tuple[str, Any]:
    """A plain scalar's (kind, value) as yaml.v3 resolves it into an interface{}."""
    if text in _NULLS:
        return "null", None
    if text in _TRUE:
        return "bool", True
    if text in _FALSE:
        return "bool", False
    if text in _FLOAT_SPECIAL:
        return "float", _FLOAT_SPECIAL[text]
    first = text[0]
    if first == ".":
        try:
            return "float", float(text)
        except ValueError:
            return "str", text
    if first in "+-0123456789":
        stamp = _TIMESTAMP.match(text)
        if stamp:
            return "timestamp", _go_time(stamp)
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return "int", number
        if _YAML_FLOAT.match(plain):
            return "float", float(plain)
        if re.fullmatch(r"-0[bB][01]+", plain):
            return "int", -int(plain[3:], 2)
        if re.fullmatch(r"-0[oO][0-7]+", plain):
            return "int", -int(plain[3:], 8)
    return "str", text


def _go_time(match: re.Match[str]) -> GoTime:
    """Go's time.Time.String() of a YAML timestamp, e.g. '2024-01-02 00:00:00 +0000 UTC'."""
    g = match.groupdict()
    stamp = (f"{int(g['y']):04d}-{int(g['m']):02d}-{int(g['d']):02d} "
             f"{int(g['H'] or 0):02d}:{int(g['M'] or 0):02d}:{int(g['S'] or 0):02d}")
    fraction = (g["f"] or "").rstrip("0")
    if fraction:
        stamp += "." + fraction
    tz = g["tz"]
    if not tz or tz == "Z":
        return GoTime(stamp + " +0000 UTC")
    digits = tz[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    offset = f"{tz[0]}{hours:02d}{minutes:02d}"
    return GoTime(f"{stamp} {offset} {offset}")


def _go_float(value: float) -> str:
    """encoding/json's float64 text: shortest repr, 'f' form for 1e-6 <= |x| < 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"unsupported value: {value}")
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    text = repr(value)
    if 1e-6 <= abs(value) < 1e21:
        plain = format(Decimal(text), "f")
        if "." in plain:
            plain = plain.rstrip("0").rstrip(".")
        return plain
    mantissa, _, exponent = format(Decimal(text), "e").partition("e") if "e" not in text else text.partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"


def _go_json_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_json(value: Any) -> str:
    """Go's json.Marshal of a decoded config value (maps sorted by key, no spaces)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_go_json_string(str(k))}:{go_json(value[k])}" for k in sorted(value, key=str)) + "}"
    raise TypeError(f"no JSON form for {type(value).__name__}")


def engine_string(value: Any) -> str:
    """The string the Pulumi CLI passes to the program for one decoded config value.

    A top-level empty value reaches the program as "" (yaml.v3 leaves the config value
    unset); a null inside an object stays JSON null.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)
    return go_json(value)


def _where(path: Path, mark: Any) -> str:
    return f"{path.name}:{mark.line + 1}:{mark.column + 1}"


def _decode(node: yaml.Node, path: Path, at: tuple[str, ...], written: dict[tuple[str, ...], Written]) -> Any:
    if isinstance(node, yaml.ScalarNode):
        start = node.start_mark
        if node.tag == _PLAIN:
            kind, value = resolve_plain(node.value)
            written[at] = Written(node.value, kind, start.line + 1, start.column + 1)
            return value
        if node.tag == _STR or node.style in ('"', "'", "|", ">"):
            written[at] = Written(node.value, "str", start.line + 1, start.column + 1, quoted=True)
            return node.value
        raise StackFileError(f"{_where(path, start)}: the YAML tag {node.tag} is not supported in a stack file; "
                             "write the value without a tag")
    if isinstance(node, yaml.SequenceNode):
        return [_decode(item, path, (*at, str(i)), written) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _PLAIN and key_node.value == "<<":
                merged = _decode(value_node, path, at, {})
                for source in merged if isinstance(merged, list) else [merged]:
                    if isinstance(source, dict):
                        for k, v in source.items():
                            result.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise StackFileError(f"{_where(path, key_node.start_mark)}: a key must be plain text")
            key = key_node.value if key_node.tag != _PLAIN else engine_string(resolve_plain(key_node.value)[1])
            if key in seen:
                raise StackFileError(f"{_where(path, key_node.start_mark)}: key {key!r} is already defined "
                                     f"at line {seen[key]}; remove one of them")
            seen[key] = key_node.start_mark.line + 1
            result[key] = _decode(value_node, path, (*at, key), written)
        return result
    raise StackFileError(f"{_where(path, node.start_mark)}: unexpected YAML node")


def load_stack_file(path: Path) -> StackFile:
    """Read a stack file; StackFileError (one line with file, line and column) when it is not valid YAML."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise StackFileError(f"{path.name}: cannot be read ({error.strerror or error})") from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "not valid YAML"
        where = _where(path, mark) if mark is not None else path.name
        raise StackFileError(f"{where}: {problem} (YAML syntax)") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: {error}") from None
    if root is None:
        return StackFile(path=path)
    written: dict[tuple[str, ...], Written] = {}
    document = _decode(root, path, (), written)
    if not isinstance(document, dict):
        raise StackFileError(f"{_where(path, root.start_mark)}: a stack file is a map with a `config:` key")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: `config:` must be a map of <namespace>:<key> to values")
    values, secure = {}, set()
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {SECURE} and isinstance(value[SECURE], str):
            secure.add(key)
            continue
        values[key] = value
    return StackFile(
        path=path, values=values, secure=frozenset(secure),
        written={at[1:]: w for at, w in written.items() if len(at) > 1 and at[0] == "config"},
    )


def engine_strings(stack_file: StackFile) -> dict[str, str]:
    """Every non-secret config value as the CLI hands it to the program (PULUMI_CONFIG)."""
    strings = {}
    for key, value in stack_file.values.items():
        try:
            strings[key] = engine_string(value)
        except ValueError as error:  # .inf, .nan: the CLI cannot pass them on either
            raise StackFileError(f"{stack_file.path.name}: {key}: {error}; write a finite number or text in quotes") from None
    return strings


def same_value(engine_text: Any, decoded: Any) -> bool:
    """Did the program get exactly this stack file value (and not one set elsewhere)?"""
    if not isinstance(engine_text, str):
        return engine_text == decoded
    if isinstance(decoded, (dict, list)):
        try:
            return json.loads(engine_text) == json.loads(go_json(decoded))
        except ValueError:
            return False
    try:
        return engine_text == engine_string(decoded)
    except (TypeError, ValueError):
        return False


def describe_written(written: Written) -> str:
    """How YAML read what the user wrote: for messages that say to quote it."""
    if written.kind == "null":
        return "nothing (YAML reads an empty value as null)" if not written.text else f"{written.text} (YAML reads it as null)"
    kind, value = resolve_plain(written.text)
    if kind == "int":
        octal = re.fullmatch(r"[-+]?0[0-7]+", written.text.replace("_", ""))
        shown = f"the octal number {value}" if octal else f"the number {value}"
    elif kind == "float":
        shown = f"the number {engine_string(value) if not (math.isnan(value) or math.isinf(value)) else written.text}"
    elif kind == "bool":
        shown = f"the boolean {str(value).lower()}"
    elif kind == "timestamp":
        shown = f"the timestamp {value}"
    else:
        return repr(written.text)
    return f"{written.text}, which YAML reads as {shown}"


__all__ = [
    "GoTime", "StackFile", "StackFileError", "Written", "describe_written", "engine_string", "engine_strings",
    "go_json", "load_stack_file", "resolve_plain", "same_value",
]
