"""`services.<name>.maxUnavailable`: a PodDisruptionBudget that follows the replica count (issue 21:
a setting is one field of its model, and its rule a check beside it)."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from scripts.synth import synthesize


def budget(**service) -> dict:
    return {"services": {"backend": {"autoscaling": {"minReplicas": 2, "maxReplicas": 8}, **service}}}


def test_max_unavailable_makes_a_budget_that_follows_the_hpa():
    result = synthesize("prod", remove=["services"], overrides=budget(maxUnavailable=1))
    spec = result.get("PodDisruptionBudget", "backend").manifest["spec"]
    assert spec["maxUnavailable"] == 1 and "minAvailable" not in spec


@pytest.mark.parametrize("service, problem", [
    ({"maxUnavailable": 1, "minAvailable": 1},
     "mbhealth:services.backend.maxUnavailable: a second budget beside minAvailable (a PodDisruptionBudget takes "
     "one); expected one of minAvailable and maxUnavailable: remove one"),
    ({"maxUnavailable": 2},
     "mbhealth:services.backend.maxUnavailable: got 2; expected a whole number from 1 to 1 (below the replica "
     "count 2)"),
    ({"maxUnavailable": 0}, "mbhealth:services.backend.maxUnavailable: got 0; expected a whole number of at least 1"),
])
def test_a_budget_that_protects_nothing_or_twice_is_refused(service, problem):
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", remove=["services"], overrides=budget(**service))
    assert caught.value.problems == [problem]
