"""`mbhealth:registry` and `mbhealth:images`: where the images are pushed and pulled, and where a
release's images come from (built now, or promoted digests)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Iterable, Mapping, Optional

from pydantic import AfterValidator, Field, PlainSerializer

from components.build_specs import IMAGE_BUILDS
from components.config.forms import (
    PINNED_FORM,
    PROJECT,
    PinnedImage,
    RegistryServer,
    RegistryUser,
    SecretName,
    StackName,
    one_of,
)
from components.config.model import Model, rules
from components.config.secrets import given, held, hidden, secret, secret_command

IMAGE_SOURCES = ("build", "digests", "stack")


class RegistryConfig(Model):
    """Registry credentials, one per use. The push credential (username, registryPassword) is the docker
    provider's registry login only, when images are built; it never reaches the cluster. The pull credential
    (pullUsername, registryPullPassword, a read token) makes the image pull Secret, and nothing else;
    pullSecretName names one that already exists in the namespace instead."""

    server: RegistryServer
    username: Optional[RegistryUser] = None
    pull_username: Optional[RegistryUser] = Field(None, alias="pullUsername")
    pull_secret_name: Optional[SecretName] = Field(None, alias="pullSecretName")
    password: Optional[secret("registryPassword")] = hidden("registryPassword")
    pull_password: Optional[secret("registryPullPassword")] = hidden("registryPullPassword")

    def repository(self, image: str) -> str:
        return f"{self.server}/{PROJECT}/{image}"

    @property
    def host(self) -> str:
        """The registry host[:port] that logins and `.dockerconfigjson` name."""
        return self.server.split("/")[0]

    @rules
    def _pull_credential(self, data: dict, stack: str, valid: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        if self.pull_username and self.pull_secret_name:
            yield ("pullUsername", "a second source of the pull credential beside registry.pullSecretName",
                   "one of them: registry.pullUsername with registryPullPassword (the program makes the pull "
                   "Secret) or registry.pullSecretName (an existing Secret)")
        elif self.pull_username and not given(data, "registryPullPassword"):
            yield (":registryPullPassword", "missing while registry.pullUsername is set (the cluster's image pull "
                   "Secret is made from them)", "a secret, a token that can only read: "
                   f"{secret_command(stack, 'registryPullPassword', '<read token>')}")
        if held(data, "registryPullPassword") and not self.pull_username:
            yield ("pullUsername", "missing while registryPullPassword is set",
                   "the registry user name of the read token (the image pull Secret's)")
        if held(data, "registryPullPassword") and data["registryPullPassword"] and held(data, "registryPassword") \
                and str(data["registryPullPassword"]) == str(data["registryPassword"]):
            yield (":registryPullPassword", "the same token as registryPassword (value hidden): the cluster would "
                   "hold the push credential", "a token that can only read: "
                   f"{secret_command(stack, 'registryPullPassword', '<read token>')}")


class Digests(Model):
    unknown: ClassVar[str] = "unknown image"
    backend: Optional[PinnedImage] = None
    frontend: Optional[PinnedImage] = None


def _pinned(digests: Digests) -> Mapping[str, str]:
    return digests.model_dump(exclude_none=True)


class ImageSource(Model):
    """Where the release's images come from (`mbhealth:images`).

    build:   build and push them now (dev, and prod without promotion);
    digests: deploy these exact digests, building nothing (promotion, rollback);
    stack:   deploy the digests another stack exported as `images` (a StackReference).
    """

    mode: one_of(IMAGE_SOURCES) = Field("build", alias="source")  # type: ignore[valid-type]
    digests: Optional[Annotated[Digests, AfterValidator(_pinned), PlainSerializer(dict)]] = Field(default_factory=dict)
    stack: Optional[StackName] = None

    @property
    def pushes(self) -> bool:
        return self.mode == "build"

    @rules
    def _source(self, data: dict, stack: str, valid: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        for other in ("digests", "stack"):
            if other in self.model_fields_set and self.mode != other:
                yield (other, f"has no effect with source {self.mode}", f"it only with source {other}; remove it")
        if self.mode == "digests" and (self.digests is None or "digests" not in self.model_fields_set):
            yield ("digests", "missing while source is digests",
                   "a map from " + ", ".join(IMAGE_BUILDS) + " to " + PINNED_FORM)
        elif self.mode == "digests":  # in the stack's registry, when it is valid
            yield from self._pinned_in(valid.get("registry"))
        if self.mode == "stack" and self.stack is None:
            yield ("stack", "missing while source is stack",
                   "a stack name like <org>/mbhealth/dev (whose `images` output is promoted)")

    def _pinned_in(self, registry: Optional[RegistryConfig]) -> list[tuple[str, str, str]]:
        """Each image's digest, in the stack's registry: the cluster pulls from it, so copy the image
        there first (`skopeo copy --preserve-digests` / `crane copy`), keeping its digest."""
        found = []
        for name in IMAGE_BUILDS:
            ref = (self.digests or {}).get(name)
            if ref is None:
                found.append((f"digests.{name}", "missing", PINNED_FORM))
            elif registry is not None and ref.split("@")[0] != registry.repository(name):
                found.append((f"digests.{name}", f"{ref.split('@')[0]!r} is not this stack's repository",
                              f"{registry.repository(name)}@sha256:<digest> (copy the image into the stack's registry "
                              "first)"))
        return found
