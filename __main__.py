"""MBHealth delivery: build (or promote) the images, then deploy the application to this stack's namespace.

    config ──► images (backend, frontend): built and pushed, or promoted ──► repo@sha256:...
                  │
    data (PostgreSQL, Redis) ──► env (ConfigMap + Secret) ──► migrate Job
                                                               │
                           backend API ◄── frontend (nginx) ◄── ingress
                           worker (Celery)
                                 └──────────── smoke-test Job (gates the release)
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.app_env import AppEnvironment
from components.build_specs import BACKEND_API, FRONTEND_WEB, WORKER
from components.cluster import require_supported_cluster
from components.config import ExternalDataConfig, InClusterDataConfig, StackConfig, load_stack_config
from components.data_services import InClusterDataServices, external_data_services
from components.external_data import checked_egress
from components.image import release_images
from components.ingress import PublicIngress
from components.labels import standard_labels
from components.migration import MigrationJob
from components.network_policy import NetworkPolicies, application_flows
from components.registry_pull import image_pull_secrets
from components.smoke_test import SmokeTest
from components.workload import Workload, WorkloadArgs


def deploy(config: StackConfig) -> None:
    version, stack = config.image_tag, config.stack
    # Kubernetes >= 1.30 (the preStop sleep action) and the add-ons the stack uses, read from the
    # provider's cluster before anything registers.
    require_supported_cluster(
        autoscaled=sorted(name for name, service in config.services.items() if service.autoscaling),
        cluster_issuer=config.ingress.cluster_issuer)

    def labels(name: str, component: str) -> dict[str, str]:
        return standard_labels(name, component, version, stack)

    def service_url(name: str, port: int) -> str:
        return f"http://{name}.{config.namespace}.svc.cluster.local:{port}"

    # Managed data services: their secret URLs must point inside the egress the stack allows,
    # checked before anything is deployed (everything lives in the namespace, which waits).
    preflight = (checked_egress(config.data) if isinstance(config.data, ExternalDataConfig)
                 else pulumi.Output.from_input(True))
    if config.create_namespace:
        namespace = k8s.core.v1.Namespace(
            "namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=preflight.apply(lambda _: config.namespace),
                labels={**labels(config.namespace, "namespace"), "pod-security.kubernetes.io/enforce": "restricted"},
            ),
        )
        ns = namespace.metadata.name
    else:
        # createNamespace: false: someone else made (and owns) it, with its TLS Secret; never deleted here.
        ns = preflight.apply(lambda _: config.namespace)

    images = release_images(config)
    backend_image = images["backend"]  # the API, the worker and the Jobs run the same build
    # Every pod that runs our images pulls them with these (none for an anonymous registry).
    pull_secrets = image_pull_secrets(config.registry, ns, labels("registry-pull", "config"))

    if isinstance(config.data, InClusterDataConfig):
        data = InClusterDataServices(config.data, ns, stack).endpoints
    else:
        data = external_data_services(config.data)

    network = NetworkPolicies(ns, labels("network", "policy"), config.ingress.controller_namespace,
                              public_ports={"frontend": FRONTEND_WEB.port, "backend": BACKEND_API.port},
                              flows=application_flows(), data=data,
                              acme_http01=config.ingress.cluster_issuer is not None, cluster=config.cluster,
                              ingress_node_cidrs=config.ingress.node_cidrs)

    secret_key = config.secret_key or random.RandomPassword("secret-key", length=64, special=False).result
    backend_env = AppEnvironment(
        "backend-env", ns, labels("backend", "config"),
        plain={"LOG_LEVEL": config.log_level, "ENVIRONMENT": config.environment},
        secret={"DATABASE_URL": data.database_url, "REDIS_URL": data.redis_url, "SECRET_KEY": secret_key},
    ).sources
    frontend_env = AppEnvironment(
        "frontend-env", ns, labels("frontend", "config"),
        plain={"BACKEND_URL": service_url("backend", BACKEND_API.port)},
    ).sources

    migrate = MigrationJob(ns, backend_image, config.services["backend"], backend_env, version, stack,
                           image_pull_secrets=pull_secrets, opts=pulumi.ResourceOptions(depends_on=data.ready))

    def workload(name: str, component: str, image, process, env, after=()) -> Workload:
        return Workload(
            WorkloadArgs(name=name, component=component, namespace=ns, image=image, process=process,
                         sizing=config.services[name], env=env, version=version, stack=stack,
                         production=config.is_production, image_pull_secrets=pull_secrets),
            opts=pulumi.ResourceOptions(depends_on=list(after)),
        )

    backend = workload("backend", "api", backend_image, BACKEND_API, backend_env, after=[migrate])
    worker = workload("worker", "worker", backend_image, WORKER, backend_env, after=[migrate])
    frontend = workload("frontend", "web", images["frontend"], FRONTEND_WEB, frontend_env, after=[backend])

    smoke = SmokeTest(ns, backend_image, api_url=service_url("backend", BACKEND_API.port),
              web_url=service_url("frontend", FRONTEND_WEB.port),
              release=[*images.values(), backend_env.checksum, frontend_env.checksum],
              sizing=config.services["backend"], version=version, stack=stack, image_pull_secrets=pull_secrets,
              opts=pulumi.ResourceOptions(depends_on=[backend, worker, frontend, network]))

    ingress = PublicIngress(config.ingress, ns, labels("public", "ingress"),
                            frontend_service=frontend.service.metadata.name, backend_service=backend.service.metadata.name)

    pulumi.export("namespace", ns)
    # `images` is the last-known-good release: recorded only once the smoke test passed.
    pulumi.export("images", smoke.passed(images))
    pulumi.export("services", {"backend": backend.service.metadata.name, "frontend": frontend.service.metadata.name,
                               "worker": worker.deployment.metadata.name})
    pulumi.export("url", ingress.url)


if __name__ == "__main__":
    deploy(load_stack_config())
