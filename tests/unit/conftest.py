"""Unit tests run the real program in-process; mocks stand in only for the Pulumi engine."""

from __future__ import annotations

import pytest

from scripts.synth import synthesize
from scripts.synth_result import SynthResult

STACKS = ("dev", "prod")


@pytest.fixture(scope="session")
def synth_cache() -> dict[str, SynthResult]:
    return {}


@pytest.fixture(params=STACKS)
def stack(request, synth_cache) -> SynthResult:
    """Each stack as its stack file configures it (prod with stand-in secrets)."""
    if request.param not in synth_cache:
        synth_cache[request.param] = synthesize(request.param)
    return synth_cache[request.param]


@pytest.fixture
def dev(synth_cache) -> SynthResult:
    if "dev" not in synth_cache:
        synth_cache["dev"] = synthesize("dev")
    return synth_cache["dev"]


@pytest.fixture
def prod(synth_cache) -> SynthResult:
    if "prod" not in synth_cache:
        synth_cache["prod"] = synthesize("prod")
    return synth_cache["prod"]
