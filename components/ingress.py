"""The public entry point: `/api` to the backend Service, everything else to the frontend.

TLS, when the stack has it, from one source (components/config refuses a name nothing fills):
- the certificate as stack secrets `tlsCertificate`/`tlsKey`: a `kubernetes.io/tls` Secret made
  here (auto-named: a renewed certificate is a new Secret, created before the old one goes);
- cert-manager: `ingress.clusterIssuer` annotates the Ingress and cert-manager writes the
  certificate to `ingress.tlsSecretName` (its HTTP-01 solver is let through the NetworkPolicies);
- a Secret made beforehand in a namespace the stack does not create (`createNamespace: false`).
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import IngressConfig

CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"


def _path(prefix: str, service: str, port: str = "http") -> k8s.networking.v1.HTTPIngressPathArgs:
    return k8s.networking.v1.HTTPIngressPathArgs(
        path=prefix,
        path_type="Prefix",
        backend=k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=service, port=k8s.networking.v1.ServiceBackendPortArgs(name=port)
            )
        ),
    )


# pulumi-kubernetes: do not wait for the Ingress to get an address from its controller.
SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"


class PublicIngress(pulumi.ComponentResource):
    def __init__(
        self,
        config: IngressConfig,
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        frontend_service: pulumi.Input[str],
        backend_service: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:PublicIngress", "public", None, opts)
        tls = None
        secret_name: Optional[pulumi.Input[str]] = config.tls_secret_name
        if config.tls_certificate is not None and config.tls_key is not None:
            certificate = k8s.core.v1.Secret(
                "ingress-tls",
                metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
                type="kubernetes.io/tls",
                string_data={"tls.crt": pulumi.Output.secret(config.tls_certificate),
                             "tls.key": pulumi.Output.secret(config.tls_key)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            secret_name = certificate.metadata.name
        if secret_name is not None:
            tls = [k8s.networking.v1.IngressTLSArgs(hosts=[config.host], secret_name=secret_name)]
        annotations = {CLUSTER_ISSUER_ANNOTATION: config.cluster_issuer} if config.cluster_issuer else {}
        if not config.publishes_address:
            annotations[SKIP_AWAIT_ANNOTATION] = "true"
        self.ingress = k8s.networking.v1.Ingress(
            "public",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="public", namespace=namespace, labels=labels,
                                                annotations=annotations or None),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=config.class_name,
                tls=tls,
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=config.host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[_path("/api", backend_service), _path("/", frontend_service)]
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = config.url
        self.register_outputs({"url": self.url})
