"""Reading: the stack's config as the engine passed it -> StackConfig, or ConfigError listing every
problem. What no model can see is checked here: other namespaces, secrets committed in plain text,
URL passwords anywhere in plain config."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
from pydantic import ValidationError

from components.config.errors import ConfigError
from components.config.forms import PROJECT
from components.config.messages import Problems, in_order, reinterpreted_numbers, render
from components.config.secrets import SECRET_KEYS, Plaintext, SecretText, secret_command
from components.config.stack import RULE_ORDER, StackConfig
from components.stack_file import (
    StackFile,
    StackFileError,
    Written,
    load_stack_file,
    same_value,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
_URL_WITH_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")


@dataclass(frozen=True)
class RawConfig:
    """The stack's config as the program received it, before validation (the input, not a setting)."""

    stack: str
    values: Mapping[str, Any]  # mbhealth keys (no prefix) -> value as written (typed), secrets excluded
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # secret keys -> plaintext
    plaintext_secret_keys: frozenset[str] = frozenset()  # SECRET_KEYS given in plain text
    written: Mapping[tuple[str, ...], Written] = field(default_factory=dict)  # ("services", "backend", "replicas")
    other_keys: tuple[str, ...] = ()  # keys of other namespaces ("kubernetes:context")
    stack_file: str = ""  # for messages


def _plain_config_problems(problems: Problems, raw: RawConfig) -> None:
    stack = raw.stack
    in_file = f" in {raw.stack_file}" if raw.stack_file else ""
    for other in raw.other_keys:
        namespace, _, key = other.partition(":")
        if namespace != PROJECT and difflib.SequenceMatcher(None, namespace.lower(), PROJECT).ratio() >= 0.75:
            problems.lines.append(f"{other}: unknown namespace {namespace!r} (did you mean `{PROJECT}:{key}`?); "
                                  f"expected {PROJECT}:<key> for this project's settings")
    # Secrets: only ever Pulumi secrets; a URL with a password anywhere else is one too.
    for key in sorted(raw.plaintext_secret_keys):
        problems.add(key, f"committed in plain text{in_file}",
                     f"a secret: run `{secret_command(stack, key)}` (it replaces the plain value)")

    def scan(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, str) and _URL_WITH_PASSWORD.search(value):
            target = f"--path '{'.'.join(path)}'" if len(path) > 1 else path[0]
            problems.add(".".join(path), f"a URL with a password in plain text{in_file}",
                         "no credentials in plain config; keep them in a secret: "
                         f"`pulumi config set --secret --stack {stack} {target} <value>`")
        elif isinstance(value, dict):
            for k, v in value.items():
                scan(v, (*path, str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                scan(v, (*path, str(i)))

    for key, value in raw.values.items():
        scan(value, (key,))


def read_stack_config(raw: RawConfig) -> StackConfig:
    """Validate `raw` into the typed config; raise ConfigError listing every problem."""
    problems = Problems()
    data = {**raw.values, **{key: Plaintext() for key in raw.plaintext_secret_keys},
            **{key: SecretText(value) for key, value in raw.secrets.items()}}
    context: dict[str, Any] = {"stack": raw.stack}
    config, top, fields, rules = None, [], [], []
    try:
        config = StackConfig.model_validate(data, context=context)
    except ValidationError as error:
        top, fields, rules = in_order(error)
    render(problems, StackConfig, top, raw.written, raw.stack)
    _plain_config_problems(problems, raw)
    order = list(raw.secrets)
    for key, problem, expected in sorted(context.get("secrets", []), key=lambda found: order.index(found[0])):
        problems.add(key, problem, expected)
    render(problems, StackConfig, fields, raw.written, raw.stack)
    # The rules' problems: those between settings and each setting's own, in RULE_ORDER.
    between = [(group, found) for group, *found in context.get("problems", [])]
    own = [(str(item["loc"][0]), item) for item in rules]
    for _, found in sorted(between + own, key=lambda rule: RULE_ORDER.index(rule[0]) if rule[0] in RULE_ORDER else 99):
        if isinstance(found, dict):
            render(problems, StackConfig, [found], raw.written, raw.stack)
        else:
            problems.add(*found)
    reinterpreted_numbers(problems, StackConfig, raw.written)
    if problems.lines or config is None:
        raise ConfigError(problems.lines)
    return config


def raw_config(
    stack: str,
    config: Mapping[str, Any],
    secret_keys: frozenset[str] | set[str],
    stack_file: Optional[StackFile] = None,
) -> RawConfig:
    """Sort the program's config (every namespace, as the engine passed it) into a RawConfig.

    A value the stack file holds (and the engine passed unchanged) is taken as the file
    wrote it: a number stays a number, an empty value is null. Anything else (set another
    way) is taken as passed: text, or JSON for an object.
    """
    values: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    plaintext: set[str] = set()
    written: dict[tuple[str, ...], Written] = {}
    others = []
    prefix = f"{PROJECT}:"
    for full_key, text in config.items():
        if not full_key.startswith(prefix):
            others.append(full_key)
            continue
        key = full_key[len(prefix):]
        if key in SECRET_KEYS:
            if full_key in secret_keys:
                secrets[key] = text if isinstance(text, str) else json.dumps(text)
            else:
                plaintext.add(key)
            continue
        if full_key in secret_keys:
            continue  # a secret of a key we do not know: reported as unknown below, never read
        if stack_file is not None and full_key in stack_file.values and same_value(text, stack_file.values[full_key]):
            values[key] = stack_file.values[full_key]
            written.update({(key, *p[1:]): w for p, w in stack_file.written.items() if p[0] == full_key})
        elif isinstance(text, str) and text.lstrip()[:1] in ("{", "["):
            try:
                values[key] = json.loads(text)
            except ValueError:
                values[key] = text
        else:
            values[key] = text
    for full_key in secret_keys:
        key = full_key[len(prefix):] if full_key.startswith(prefix) else None
        if key is not None and key not in SECRET_KEYS and full_key in config:
            values.setdefault(key, "<secret>")
    return RawConfig(stack=stack, values=values, secrets=secrets, plaintext_secret_keys=frozenset(plaintext),
                     written=written, other_keys=tuple(sorted(others)),
                     stack_file=stack_file.path.name if stack_file is not None else "")


def stack_file_path(stack: str) -> Path:
    return PROJECT_DIR / f"Pulumi.{stack}.yaml"


def load_stack_config(stack_file: Optional[Path] = None) -> StackConfig:
    """Read this stack's config (the program's one config read) and validate it."""
    from pulumi.runtime import config as runtime_config

    stack = pulumi.get_stack()
    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {k for k in config if pulumi.runtime.is_config_secret(k)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    path = stack_file or stack_file_path(stack)
    parsed = None
    if path.exists():
        try:
            parsed = load_stack_file(path)
        except StackFileError as error:
            raise ConfigError([str(error)]) from None
    typed = read_stack_config(raw_config(stack, config, secret_keys, parsed))
    for warning in typed.warnings:
        pulumi.log.warn(warning)
    return typed
