"""The pack served the way the Pulumi CLI runs it (`python -m pulumi.policy <engine> <pack dir>`), over gRPC.

The CLI cannot run here, so this test plays its part: it starts the analyzer,
reads the port it prints, and sends the same Analyze requests a `pulumi preview
--policy-pack policy` would send for a broken and a sound resource.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.rules import RULES
from scripts.secret_markers import reveal
from tests.policy.conftest import synthesized

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture(scope="module")
def analyzer():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], cwd=POLICY_DIR,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            process.kill()
            pytest.fail(f"the pack printed no port: {line!r} {process.stderr.read()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def analyze(stub, resource, props):
    request = analyzer_pb2.AnalyzeRequest(type=resource.type, urn=resource.urn, name=resource.name,
                                          properties=json_format.ParseDict(props, struct_pb2.Struct()))
    return list(stub.Analyze(request).diagnostics)


def test_the_served_pack_describes_its_policies(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "mbhealth-guardrails"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {**{rule.id: analyzer_pb2.MANDATORY for rule in RULES}, "dev-exceptions": analyzer_pb2.ADVISORY}


def test_the_served_pack_passes_a_sound_deployment(analyzer):
    resource = synthesized("prod").get("Deployment", "backend")
    assert analyze(analyzer, resource, reveal(resource.inputs)) == []


def test_the_served_pack_blocks_a_broken_deployment_during_preview(analyzer):
    resource = synthesized("prod").get("Deployment", "worker")
    props = reveal(resource.inputs)
    container = props["spec"]["template"]["spec"]["containers"][0]
    del container["resources"]["limits"]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    props["metadata"]["namespace"] = UNKNOWN_STRING_VALUE  # as in a preview that creates the namespace
    diagnostics = analyze(analyzer, resource, props)
    assert {(d.policyName, d.enforcementLevel) for d in diagnostics} == {
        ("resources", analyzer_pb2.MANDATORY), ("container-hardening", analyzer_pb2.MANDATORY)}
    for diagnostic in diagnostics:
        assert diagnostic.urn == resource.urn and diagnostic.policyPackName == "mbhealth-guardrails"
        assert "Deployment/<namespace unknown during preview>/worker, container 'worker'" in diagnostic.message
        assert "Fix: " in diagnostic.message


def test_the_served_pack_reports_devs_exception_as_advisory(analyzer):
    resource = synthesized("dev").get("StatefulSet", "postgres")
    (diagnostic,) = analyze(analyzer, resource, reveal(resource.inputs))
    assert diagnostic.policyName == "dev-exceptions" and diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
    assert "StatefulSet/mbhealth-dev/postgres, container 'postgres': image 'postgres:15.10-alpine'" in diagnostic.message
