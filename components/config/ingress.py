"""`mbhealth:ingress`: the public entry point, and the one source of its TLS certificate."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from pydantic import Field

from components.config.forms import (
    DnsLabel,
    DnsName,
    Flag,
    IngressClass,
    CidrList,
    IssuerName,
    Port,
    SecretName,
)
from components.config.model import Model, null_is_unset, rules
from components.config.secrets import given, hidden, secret


class IngressConfig(Model):
    """TLS comes from exactly one of: the certificate as stack secrets (`tls_certificate`/`tls_key`: the
    program makes the Secret), cert-manager (`cluster_issuer` writes `tls_secret_name`), or a Secret
    already in a namespace the stack does not create (StackConfig checks that last one)."""

    host: DnsName
    class_name: IngressClass = Field("nginx", alias="className")
    tls_secret_name: Optional[SecretName] = Field(None, alias="tlsSecretName")
    controller_namespace: DnsLabel = Field("ingress-nginx", alias="controllerNamespace")
    cluster_issuer: Optional[IssuerName] = Field(None, alias="clusterIssuer")  # cert-manager.io/cluster-issuer
    # The controller runs on the nodes' network (hostNetwork): its traffic comes from the nodes'
    # addresses, not from a pod of controller_namespace; the policies allow node_cidrs instead.
    controller_host_network: Flag = Field(False, alias="controllerHostNetwork")
    node_cidrs: CidrList = Field((), alias="nodeCidrs")
    # The controller writes its address into the Ingress' status, and `pulumi up` waits for it;
    # False on a cluster with no such controller (the local control plane): no wait.
    publishes_address: Flag = Field(True, alias="publishesAddress")
    # Where the controller serves HTTP and HTTPS when not on 80/443 (a local cluster): into `url`.
    http_port: Optional[Port] = Field(None, alias="httpPort")
    https_port: Optional[Port] = Field(None, alias="httpsPort")
    tls_certificate: Optional[secret("tlsCertificate")] = hidden("tlsCertificate")  # PEM chain
    tls_key: Optional[secret("tlsKey")] = hidden("tlsKey")  # PEM private key
    _nulls = null_is_unset("nodeCidrs")

    @property
    def tls(self) -> bool:
        return bool(self.tls_secret_name or self.tls_certificate is not None)

    @property
    def url(self) -> str:
        scheme, port, default = ("https", self.https_port, 443) if self.tls else ("http", self.http_port, 80)
        return f"{scheme}://{self.host}{'' if port in (None, default) else f':{port}'}"

    @rules
    def _sources(self, data: dict, stack: str, valid: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        if self.controller_host_network and not self.node_cidrs:
            yield ("nodeCidrs", "missing while ingress.controllerHostNetwork is true (the controller's traffic comes "
                   "from the nodes' addresses)", "a list of the nodes' networks, like [10.0.0.0/16]")
        if self.node_cidrs and not self.controller_host_network:
            yield ("nodeCidrs", "has no effect unless ingress.controllerHostNetwork is true (the controller's pods "
                   "are allowed by their namespace)", "it only with controllerHostNetwork: true; remove it")
        pem = {key for key in ("tlsCertificate", "tlsKey") if given(data, key)}
        for key, other in (("tlsCertificate", "tlsKey"), ("tlsKey", "tlsCertificate")):
            if other in pem and key not in pem:
                yield (f":{key}", f"missing while {other} is set",
                       f"a secret: pulumi config set --secret --stack {stack} {key} < <PEM file>")
        if pem:
            for name in ("tls_secret_name", "cluster_issuer"):
                if name in self.model_fields_set:
                    yield (type(self).model_fields[name].alias, "has no effect beside the secrets tlsCertificate and "
                           "tlsKey (the program makes the TLS Secret from them)",
                           "one source of the certificate: remove it, or the two secrets")
        elif self.cluster_issuer and not self.tls_secret_name:
            yield ("tlsSecretName", "missing while ingress.clusterIssuer is set",
                   "the Secret cert-manager writes the certificate to, like mbhealth-tls")
