"""Guardrail tests: the policy rules, the CrossGuard pack, the scanners and the CI workflows."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from policy.stack_context import StackContext, load_context
from scripts.secret_markers import reveal
from scripts.synth import synthesize
from scripts.synth_result import SynthResult

STACKS = ("dev", "prod")

_cache: dict[str, SynthResult] = {}


def synthesized(stack: str) -> SynthResult:
    """Each stack as its stack file configures it, synthesized once per session (never mutate it)."""
    if stack not in _cache:
        _cache[stack] = synthesize(stack)
    return _cache[stack]


@pytest.fixture(params=STACKS)
def stack(request) -> str:
    return request.param


@pytest.fixture
def result(stack) -> SynthResult:
    return synthesized(stack)


@pytest.fixture
def context(stack) -> StackContext:
    return load_context(stack)


def manifest(stack: str, kind: str, name: str, mutate: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """A deep copy of one synthesized object (secrets revealed, as a policy pack sees them), optionally mutated."""
    obj = copy.deepcopy(reveal(synthesized(stack).get(kind, name).manifest))
    if mutate is not None:
        mutate(obj)
    return obj
