"""The guardrail rules: the registry of every rule, and the entry points that run them on one resource.

One rule set, two callers: the CrossGuard pack (`policy/__main__.py`, run by
`pulumi preview/up --policy-pack policy`) and the test suite (`tests/policy`,
which runs these functions against what `scripts/synth.py` synthesizes for each
stack). Objects are in wire shape (camelCase), as the Kubernetes API, the synth
manifests and CrossGuard's `args.props` have them; any `Mapping`/`Sequence`
works, so CrossGuard's read-only proxies need no conversion.

The rules themselves, one module per family: pod_rules.py (container-hardening,
resources, probes), image_rules.py (image-pinning, of pods and of image builds),
service_rules.py (service-exposure), secret_rules.py (no-plaintext-secrets, on
secret_detection.py's heuristics), label_rules.py (standard-labels). What they
read: stack_context.py (the stack), objects.py (the Kubernetes objects); what
they report: violation.py.

Enforcement: every violation is mandatory, except where dev needs an exception
(`Violation.mandatory` is False, and `exception` says why). There is one such
exception today, DEV_PUBLIC_IMAGES (image_rules.py): the dev stack's in-cluster
PostgreSQL and Redis run the upstream images by a version tag, not from the
stack's registry by digest. In any other environment (staging, production)
every rule is mandatory.

Messages never quote a secret-looking value: they name the resource, the
container or key, what is wrong, and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from policy.image_rules import DEV_PUBLIC_IMAGES_REASON, check_image_build, check_images
from policy.label_rules import check_standard_labels
from policy.objects import is_map, kind_of
from policy.pod_rules import check_container_hardening, check_probes, check_resources
from policy.secret_rules import check_plaintext_secrets
from policy.service_rules import check_service_exposure
from policy.stack_context import StackContext
from policy.violation import Violation

DOCKER_IMAGE_TYPE = "docker:index/image:Image"

Check = Callable[[Mapping[str, Any], str, StackContext, Optional[str]], list[Violation]]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    check: Check
    dev_exception: Optional[str] = None  # what is advisory in development, and why


RULES: tuple[Rule, ...] = (
    Rule("container-hardening", "Containers run as non-root with a read-only root filesystem, no privilege "
         "escalation and all capabilities dropped.", check_container_hardening),
    Rule("resources", "Every container sets requests and limits for cpu, memory and ephemeral storage.", check_resources),
    Rule("probes", "Long-running workloads (Deployments, StatefulSets) have liveness and readiness probes.", check_probes),
    Rule("image-pinning", "Images come from the stack's registry, pinned by digest; never `latest`.", check_images,
         dev_exception=DEV_PUBLIC_IMAGES_REASON),
    Rule("service-exposure", "No Service of type LoadBalancer or NodePort (except the ingress controller's).",
         check_service_exposure),
    Rule("no-plaintext-secrets", "No secret-looking key or value in a ConfigMap or a container env literal.",
         check_plaintext_secrets),
    Rule("standard-labels", "Every object and pod template carries the standard app.kubernetes.io labels.",
         check_standard_labels),
)
RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}


# ── entry points ─────────────────────────────────────────────────────────────


def evaluate(resource_type: str, props: Mapping[str, Any], ctx: StackContext, name: Optional[str] = None,
             rules: Iterable[str] | None = None) -> list[Violation]:
    """Every violation of `rules` (default: all) by one resource, as CrossGuard sees it (type + input props)."""
    wanted = set(rules) if rules is not None else set(RULES_BY_ID)
    if resource_type == DOCKER_IMAGE_TYPE:
        return [v for v in check_image_build(props, ctx, name) if v.rule in wanted]
    if not resource_type.startswith("kubernetes:") or not is_map(props):
        return []
    kind = kind_of(props, resource_type)
    if not kind:
        return []
    found: list[Violation] = []
    for rule in RULES:
        if rule.id in wanted:
            found.extend(rule.check(props, kind, ctx, name))
    return found


def evaluate_manifest(manifest: Mapping[str, Any], ctx: StackContext, rules: Iterable[str] | None = None) -> list[Violation]:
    """Every violation by one Kubernetes object (a synthesized or applied manifest)."""
    kind = kind_of(manifest)
    api_version = str(manifest.get("apiVersion", "v1"))
    group, _, version = api_version.rpartition("/")
    resource_type = f"kubernetes:{group or 'core'}/{version}:{kind}"
    return evaluate(resource_type, manifest, ctx, rules=rules)
