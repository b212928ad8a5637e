"""The public entry point: `/api` to the backend Service, everything else to the frontend."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import IngressConfig


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
        if config.tls_secret_name:
            tls = [k8s.networking.v1.IngressTLSArgs(hosts=[config.host], secret_name=config.tls_secret_name)]
        self.ingress = k8s.networking.v1.Ingress(
            "public",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="public", namespace=namespace, labels=labels),
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
