"""Both stacks, as synthesized, pass every rule; the only advisory findings are dev's documented exception."""

from __future__ import annotations

from policy.image_rules import DEV_PUBLIC_IMAGES
from policy.rules import DOCKER_IMAGE_TYPE, RULES, evaluate, evaluate_manifest
from scripts.secret_markers import reveal
from scripts.synth import synthesize


def all_violations(result, context):
    found = []
    for manifest in result.manifests(redacted=False):
        found.extend(evaluate_manifest(manifest, context))
    for resource in result.resources:
        if resource.type == DOCKER_IMAGE_TYPE:
            found.extend(evaluate(resource.type, reveal(resource.inputs), context, name=resource.name))
    return found


def test_no_mandatory_violation(result, context):
    assert len(result.manifests()) > 15
    mandatory = [v.message for v in all_violations(result, context) if v.mandatory]
    assert mandatory == [], "\n".join(mandatory)


def test_a_release_tagged_with_the_commit_sha_passes(stack, context):
    """deploy.yml deploys dev with imageTag set to $GITHUB_SHA (40 hex): the VERSION build arg and the
    app.kubernetes.io/version label. The pack must let that release through (prod promotes it)."""
    sha = "8c45af4e1b2d3c4f5a6b7c8d9e0f1a2b3c4d5e6f"
    result = synthesize(stack, overrides={"imageTag": sha})
    builds = [r for r in result.resources if r.type == DOCKER_IMAGE_TYPE]
    if stack == "dev":
        assert builds and all(reveal(r.inputs)["build"]["args"]["VERSION"] == sha for r in builds)
    mandatory = [v.message for v in all_violations(result, context) if v.mandatory]
    assert mandatory == [], "\n".join(mandatory)


def test_advisory_findings_are_only_devs_public_data_service_images(result, context):
    advisory = [v for v in all_violations(result, context) if not v.mandatory]
    if context.environment == "production":
        assert advisory == []
        return
    assert context.stack == "dev" and context.is_development
    assert {(v.rule, v.resource, v.container) for v in advisory} == {
        ("image-pinning", "StatefulSet/mbhealth-dev/postgres", "postgres"),
        ("image-pinning", "Deployment/mbhealth-dev/redis", "redis"),
    }
    assert {v.container for v in advisory} == set(DEV_PUBLIC_IMAGES)
    for violation in advisory:
        assert "dev exception" in violation.message and "never reaches production" in violation.message


def test_every_rule_looks_at_something(result, context):
    """Guard against a rule that silently matches nothing: each sees at least one object it applies to."""
    manifests = result.manifests(redacted=False)
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "Job", "ConfigMap", "Service", "Namespace"} <= kinds
    assert [rule.id for rule in RULES] == [
        "container-hardening", "resources", "probes", "image-pinning", "service-exposure",
        "no-plaintext-secrets", "standard-labels",
    ]
    if context.stack == "dev":  # dev always builds; prod may promote dev's digests instead
        images = [r for r in result.resources if r.type == DOCKER_IMAGE_TYPE]
        assert {r.name for r in images} == {"backend", "frontend"}


def test_contexts_come_from_the_stack_files(context):
    expected = {
        "dev": ("development", "localhost:5000"),
        "prod": ("production", "ghcr.io/mbhealth"),
    }[context.stack]
    assert (context.environment, context.registry) == expected
    assert context.repository_prefix == f"{context.registry}/mbhealth/"
