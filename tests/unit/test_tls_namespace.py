"""The ingress certificate has a source (issue 12, item 6).

The prod ingress named a TLS Secret in a namespace the program creates: nothing could have put it
there, so the controller served its fake certificate. Now a tlsSecretName needs something to fill
it: cert-manager (ingress.clusterIssuer), the certificate as stack secrets (the program makes the
Secret), or a namespace the stack does not create (createNamespace: false) made with the Secret.
"""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.ingress import CLUSTER_ISSUER_ANNOTATION
from scripts.secret_markers import is_secret, reveal
from scripts.synth import REPO_ROOT, SYNTH_SECRETS, synthesize

CERT = "-----BEGIN CERTIFICATE-----\nMIIBcanarycert\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEcanarykey-77e1\n-----END PRIVATE KEY-----\n"
PLAIN_INGRESS = {"host": "app.mbhealth.example", "className": "nginx"}


def ingress_spec(result):
    return result.get("Ingress", "public").manifest


def problem(key, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", **kwargs)
    assert caught.value.registered_before_failure == []
    (line,) = [p for p in caught.value.problems if p.startswith(f"mbhealth:{key}: ")]
    return line


def test_prod_gets_its_certificate_from_cert_manager(prod):
    ingress = ingress_spec(prod)
    assert ingress["metadata"]["annotations"] == {CLUSTER_ISSUER_ANNOTATION: "letsencrypt-prod"}
    assert ingress["spec"]["tls"] == [{"hosts": ["app.mbhealth.example"], "secretName": "mbhealth-tls"}]
    solver = prod.get("NetworkPolicy", "allow-acme-http01-solver").manifest["spec"]
    assert solver["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert solver["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8089}]
    assert prod.exports["url"] == "https://app.mbhealth.example"


def test_a_tls_secret_nothing_can_fill_is_refused():
    line = problem("ingress.tlsSecretName", overrides={"ingress": {**PLAIN_INGRESS, "tlsSecretName": "mbhealth-tls"}},
                   remove=["ingress"])
    assert "names a Secret in namespace 'mbhealth', which this stack creates" in line
    assert "ingress controller would serve its fake certificate" in line
    assert "createNamespace: false" in line and "tlsCertificate and tlsKey" in line and "ingress.clusterIssuer" in line


def test_an_existing_namespace_is_used_not_created(tmp_path):
    text = (REPO_ROOT / "Pulumi.prod.yaml").read_text()
    assert "    clusterIssuer: letsencrypt-prod\n" in text
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(text.replace("    clusterIssuer: letsencrypt-prod\n", "")
                          + "  mbhealth:createNamespace: false\n")
    result = synthesize("prod", stack_file=stack_file)
    assert result.of_kind("Namespace") == []  # never created, never deleted by `pulumi destroy`
    assert {r.manifest["metadata"].get("namespace") for r in result.kubernetes()} == {"mbhealth"}
    assert ingress_spec(result)["spec"]["tls"][0]["secretName"] == "mbhealth-tls"
    assert result.exports["namespace"] == "mbhealth"


def test_the_certificate_as_stack_secrets_becomes_a_tls_secret():
    result = synthesize("prod", overrides={"ingress": PLAIN_INGRESS}, remove=["ingress"],
                        secrets={**SYNTH_SECRETS["prod"], "tlsCertificate": CERT, "tlsKey": KEY})
    (secret,) = [s for s in result.of_kind("Secret") if s.name == "ingress-tls"]
    assert secret.manifest["type"] == "kubernetes.io/tls"
    data = secret.inputs["stringData"]
    assert is_secret(data) or all(is_secret(v) for v in data.values())
    assert reveal(data) == {"tls.crt": CERT, "tls.key": KEY}
    assert ingress_spec(result)["spec"]["tls"] == [{"hosts": ["app.mbhealth.example"], "secretName": secret.object_name}]
    assert result.exports["url"] == "https://app.mbhealth.example"


@pytest.mark.parametrize(
    "secrets, ingress, key, fragment",
    [
        ({"tlsCertificate": CERT}, PLAIN_INGRESS, "tlsKey", "missing while tlsCertificate is set"),
        ({"tlsCertificate": "not a certificate", "tlsKey": KEY}, PLAIN_INGRESS, "tlsCertificate",
         "not a PEM certificate (value hidden)"),
        ({"tlsCertificate": CERT, "tlsKey": "hunter2-canary"}, PLAIN_INGRESS, "tlsKey", "not a PEM private key"),
        ({"tlsCertificate": CERT, "tlsKey": KEY}, {**PLAIN_INGRESS, "clusterIssuer": "letsencrypt-prod",
                                                  "tlsSecretName": "mbhealth-tls"},
         "ingress.clusterIssuer", "has no effect beside the secrets tlsCertificate and tlsKey"),
        ({}, {**PLAIN_INGRESS, "clusterIssuer": "letsencrypt-prod"}, "ingress.tlsSecretName",
         "missing while ingress.clusterIssuer is set"),
    ],
)
def test_tls_sources_are_checked(secrets, ingress, key, fragment):
    line = problem(key, overrides={"ingress": ingress}, remove=["ingress"], secrets={**SYNTH_SECRETS["prod"], **secrets})
    assert fragment in line and "canary" not in line


def test_create_namespace_is_a_boolean():
    line = problem("createNamespace", overrides={"createNamespace": "no"})
    assert "expected true (the stack creates and owns the namespace) or false" in line
