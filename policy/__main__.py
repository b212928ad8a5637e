"""MBHealth guardrails: a CrossGuard policy pack over the rules of policy/rules.py.

    pulumi preview --stack prod --policy-pack policy

One mandatory policy per rule, plus one advisory policy (`dev-exceptions`) that
reports what a rule waives in the development environment (and says why). The
stack's registry and environment come from `Pulumi.<stack>.yaml`, the stack
being the one in each resource's URN. The rules are registered in policy/rules.py
(one module per rule family beside it) and the tests (tests/policy) run the same
functions against the synthesized stacks.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import _is_unknown  # noqa: E402

from policy.objects import UNKNOWN  # noqa: E402
from policy.rules import DOCKER_IMAGE_TYPE, RULES, evaluate  # noqa: E402
from policy.stack_context import StackContext, load_context, stack_from_urn  # noqa: E402
from policy.violation import Violation  # noqa: E402

PACK_NAME = "mbhealth-guardrails"
DEV_EXCEPTIONS = "dev-exceptions"


def _raw(proxy: Any) -> Any:
    """The proxy's target without the unknown check (the proxies raise on reading an unknown)."""
    try:
        return proxy["__target"]
    except (KeyError, TypeError, IndexError):
        return proxy


def to_plain(value: Any) -> Any:
    """CrossGuard's unknown-checking proxies -> plain dicts and lists, unknowns -> objects.UNKNOWN.

    Reading an unknown through a proxy raises, which would skip the whole policy for
    the resource during a preview; the rules skip just the unknown value instead.
    """
    value = _raw(value)
    if isinstance(value, dict):
        return {key: to_plain(_raw(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(_raw(item)) for item in value]
    if _is_unknown(value):
        return UNKNOWN
    return value


@lru_cache(maxsize=None)
def context_for(stack: str) -> StackContext:
    return load_context(stack)


def violations_for(args: ResourceValidationArgs, rules: Optional[set[str]] = None) -> list[Violation]:
    """Every violation by the resource in `args` (all rules, or only `rules`)."""
    if not (args.resource_type.startswith("kubernetes:") or args.resource_type == DOCKER_IMAGE_TYPE):
        return []
    ctx = context_for(stack_from_urn(args.urn))
    return evaluate(args.resource_type, to_plain(args.props), ctx, name=args.name, rules=rules)


def _context_error(args: ResourceValidationArgs, report_violation: ReportViolation, error: Exception) -> None:
    report_violation(f"cannot check {args.resource_type} {args.name}: {error}. Fix: keep Pulumi.<stack>.yaml "
                     "(mbhealth:environment, mbhealth:registry.server) beside the program the pack checks", args.urn)


def rule_validator(rule_id: str) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        try:
            found = violations_for(args, {rule_id})
        except LookupError as error:
            _context_error(args, report_violation, error)
            return
        for violation in found:
            if violation.mandatory:
                report_violation(violation.message, args.urn)

    validate.__name__ = f"validate_{rule_id.replace('-', '_')}"
    return validate


def validate_dev_exceptions(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    try:
        found = violations_for(args)
    except LookupError:
        return  # reported by the mandatory policies
    for violation in found:
        if not violation.mandatory:
            report_violation(violation.message, args.urn)


POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name=rule.id,
        description=rule.description,
        validate=rule_validator(rule.id),
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    for rule in RULES
] + [
    ResourceValidationPolicy(
        name=DEV_EXCEPTIONS,
        description="What a rule waives in the development environment, and why (never in staging or production).",
        validate=validate_dev_exceptions,
        enforcement_level=EnforcementLevel.ADVISORY,
    )
]


if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
