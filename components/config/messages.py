"""One line per problem, `mbhealth:<key>: <problem>; expected <accepted form>`, from pydantic's
errors: the only renderer of config messages. Secrets are never shown (only their key)."""

from __future__ import annotations

import difflib
from typing import Any, Mapping, Optional, get_origin

from pydantic import ValidationError

from components.config.forms import PROJECT, Empty, Form, Missing, shown
from components.config.schema import expects_text, is_model, keys_of, members, walk
from components.config.secrets import Secret
from components.stack_file import (
    Written,
    describe_written,
    engine_string,
    resolve_plain,
)


def did_you_mean(key: str, known: list[str]) -> Optional[str]:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


class Problems:
    """Collects one line per problem, at most one per key (the first found)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.keys: set[str] = set()

    def add(self, key: str, problem: str, expected: str) -> None:
        if key in self.keys:
            return
        self.keys.add(key)
        self.lines.append(f"{PROJECT}:{key}: {problem}; expected {expected}")

    def has(self, key: str) -> bool:
        return key in self.keys or any(k.startswith(key + ".") for k in self.keys)


def _form(bare: Any, metadata: list[Any]) -> str:
    forms = [m.text for m in metadata if isinstance(m, Form)]
    if forms:
        return forms[-1]
    if is_model(bare) or members(bare):
        return "a map with " + ", ".join(keys_of(bare))
    return "a valid value"


def in_order(error: ValidationError) -> tuple[list[Any], list[Any], list[Any]]:
    """`error`'s items as the reader lists them: unknown top-level keys (sorted); what each value is
    (unknown services first); what each setting's own rules found (by setting)."""
    items = error.errors(include_url=False)
    top = sorted((i for i in items if i["type"] == "extra_forbidden" and len(i["loc"]) == 1), key=lambda i: i["loc"])
    rules = [i for i in items if i["type"] == PROJECT and i["loc"][:1] != ("services",)]
    first: dict[Any, int] = {}
    for i in items:
        first.setdefault(i["loc"][:1], len(first))
    unknown_service = [i for i in items if i["type"] == "extra_forbidden" and i["loc"][:1] == ("services",)
                       and len(i["loc"]) == 2]
    fields = sorted((i for i in items if i not in top and i not in rules),
                    key=lambda i: (first[i["loc"][:1]], i not in unknown_service))
    return top, fields, rules


def render(problems: Problems, model: Any, items: list[Any], written: Mapping[tuple[str, ...], Written],
           stack: str) -> None:
    """Each error item as one line: `loc` below `model`; `written` is how the file wrote each scalar."""
    for item in items:
        loc = tuple(str(part) for part in item["loc"])
        kind, value = item["type"], item.get("input")
        bare, metadata, keys = walk(model, loc)
        key = ".".join(keys)
        if kind == PROJECT:  # a model's rule: keys below it (':' a top-level key)
            for below, problem, expected in item["ctx"]["problems"]:
                problems.add(below[1:] if below.startswith(":") else ".".join((*keys, below)), problem, expected)
            continue
        if kind == "extra_forbidden":
            parent, _, _ = walk(model, loc[:-1])
            known = keys_of(parent) if is_model(parent) or members(parent) else []
            what = getattr(parent, "unknown", "unknown key")
            guess = did_you_mean(loc[-1], known)
            hint = f" (did you mean `{guess}`?)" if guess else ""
            problems.add(key, f"{what}{hint}", "one of " + ", ".join(known))
            continue
        mark = next((m for m in metadata if isinstance(m, Secret)), None)
        missing = next((m for m in metadata if isinstance(m, Missing)), None)
        if kind == "missing" and missing is not None:
            problems.add(mark.key if mark else key, missing.problem.replace("{stack}", stack),
                         missing.expected.replace("{stack}", stack))
            continue
        if mark is not None:  # never reached with a value: secrets fail only through their rules
            problems.add(mark.key, "not valid (value hidden)", "a secret")
            continue
        if kind in ("union_tag_invalid", "union_tag_not_found"):  # the data services' mode, as its own value
            loc, kind = (*loc, "mode"), ("literal_error" if kind == "union_tag_invalid" else "missing")
            value = value.get("mode") if isinstance(value, dict) else None
            bare, metadata, keys = walk(model, loc)
            key = ".".join(keys)
        form = _form(bare, metadata)
        empty = next((m for m in metadata if isinstance(m, Empty)), None)
        if value is None and empty is not None:
            form = empty.text.replace("{form}", form)
        if kind == "missing":
            problems.add(key, "missing", form)
            continue
        scalar = written.get(keys)
        if expects_text(bare) and not isinstance(value, (str, dict, list)):
            got = describe_written(scalar) if scalar and not scalar.is_text else (
                "nothing (an empty value)" if value is None else f"{shown(value)} (a {type(value).__name__})")
            example = scalar.text if scalar and scalar.text else "..."
            problems.add(key, f"got {got}", f'{form}, as text in quotes: {keys[-1]}: "{example}"')
        elif value is None and kind != "literal_error":
            problems.add(key, "got nothing (an empty value)", form)
        elif kind == "literal_error":
            problems.add(key, f"got {shown(value)}", form)
        elif kind == "value_error":
            problems.add(key, str(item["ctx"]["error"]), form)
        elif get_origin(bare) in (list, tuple) and not isinstance(value, list):
            problems.add(key, f"got {shown(value)}, not a list", form)
        elif isinstance(value, str) and not expects_text(bare):
            problems.add(key, f"got {shown(value)} (text)", f"{form}, written without quotes")
        elif isinstance(value, (dict, list)) and not (is_model(bare) or members(bare)):
            problems.add(key, f"got a {'map' if isinstance(value, dict) else 'list'}", form)
        else:
            problems.add(key, f"got {shown(value)}", form)


def reinterpreted_numbers(problems: Problems, model: Any, written: Mapping[tuple[str, ...], Written]) -> None:
    """A number YAML reads differently from how it was written (010 -> 8, 1.10 -> 1.1) is refused."""
    for path, scalar in written.items():
        if scalar.kind not in ("int", "float") or problems.has(".".join(path)):
            continue
        _, value = resolve_plain(scalar.text)
        try:
            canonical = engine_string(value)
        except ValueError:
            canonical = scalar.text + "?"
        if canonical != scalar.text:
            bare, metadata, _ = walk(model, path)
            problems.add(".".join(path), f"got {describe_written(scalar)}",
                         f"{_form(bare, metadata)}: write {canonical}, or the text in quotes")
