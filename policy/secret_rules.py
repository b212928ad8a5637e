"""The no-plaintext-secrets rule: no secret-looking key or value in a ConfigMap or a container env literal
(the heuristics are policy/secret_detection.py's)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping, Optional

from policy.objects import Unknown, container_name, containers, describe, is_list, is_map, pod_spec
from policy.secret_detection import key_looks_secret, value_secret_reason
from policy.stack_context import StackContext
from policy.violation import Violation


SECRET_FIX = (
    "put the value in a Kubernetes Secret (a Pulumi secret in components/app_env.py AppEnvironment(secret=...)) "
    "and reference it with envFrom.secretRef or env.valueFrom.secretKeyRef; never a ConfigMap or an env literal"
)


def check_plaintext_secrets(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """No secret-looking key or value in a ConfigMap or a container env literal."""
    where = describe(obj, kind, name)
    found = []

    def inspect(key: str, value: Any, what: str, container: Optional[str] = None, binary: bool = False) -> None:
        if isinstance(value, Unknown) or value is None:
            return
        text = value if isinstance(value, str) else str(value)
        reasons = []
        if key_looks_secret(key) and text:
            reasons.append("its name says it holds a secret")
        if binary:
            try:
                text = base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                pass
        reason = value_secret_reason(text, entropy=not binary, key=key)
        if reason:
            reasons.append(f"its value looks like {reason}")
        if reasons:
            found.append(Violation("no-plaintext-secrets", where, f"{what} {key!r} is in plain text and {' and '.join(reasons)}",
                                   SECRET_FIX, container=container))

    if kind == "ConfigMap":
        for field in ("data", "binaryData"):
            data = obj.get(field)
            if is_map(data):
                for key, value in data.items():
                    inspect(str(key), value, f"ConfigMap {field} key", binary=field == "binaryData")
    spec = pod_spec(obj, kind)
    if spec is not None:
        for _, c in containers(spec):
            env = c.get("env")
            if is_list(env):
                for var in env:
                    if is_map(var) and "value" in var and not is_map(var.get("valueFrom")):
                        inspect(str(var.get("name", "")), var.get("value"), "env var", container=container_name(c))
    return found
