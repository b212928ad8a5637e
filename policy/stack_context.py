"""The stack a rule checks against: its environment and registry, read from `Pulumi.<stack>.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from components.config import PROJECT

REPO_ROOT = Path(__file__).resolve().parent.parent

DEV_ENVIRONMENT = "development"


@dataclass(frozen=True)
class StackContext:
    """What the rules need to know about the stack being checked."""

    stack: str
    environment: str  # development | staging | production (mbhealth:environment)
    registry: str  # mbhealth:registry.server, e.g. localhost:5000 or ghcr.io/mbhealth
    ingress_controller_namespace: str = "ingress-nginx"

    @property
    def is_development(self) -> bool:
        return self.environment == DEV_ENVIRONMENT

    @property
    def repository_prefix(self) -> str:
        """Every image the stack deploys lives under here (components.config.RegistryConfig.repository)."""
        return f"{self.registry}/{PROJECT}/"


def load_context(stack: str, root: Path = REPO_ROOT) -> StackContext:
    """The stack context from `Pulumi.<stack>.yaml`: the same file the program reads its config from."""
    import yaml

    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise LookupError(f"no stack file {path.name}: the policy pack reads the stack's registry and environment from it")
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    registry = config.get(f"{PROJECT}:registry") or {}
    ingress = config.get(f"{PROJECT}:ingress") or {}
    server = registry.get("server") if isinstance(registry, Mapping) else None
    environment = config.get(f"{PROJECT}:environment")
    if not server or not environment:
        raise LookupError(f"{path.name}: {PROJECT}:registry.server and {PROJECT}:environment must be set")
    return StackContext(
        stack=stack,
        environment=str(environment),
        registry=str(server).rstrip("/"),
        ingress_controller_namespace=str(ingress.get("controllerNamespace") or "ingress-nginx"),
    )


def stack_from_urn(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`."""
    head = urn.split("::", 1)[0]
    parts = head.split(":")
    if len(parts) < 3 or parts[0] != "urn" or parts[1] != "pulumi":
        raise ValueError(f"not a Pulumi URN: {urn!r}")
    return parts[-1]
