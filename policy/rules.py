"""The guardrail rules: plain functions over Kubernetes objects and image builds.

One rule set, two callers: the CrossGuard pack (`policy/__main__.py`, run by
`pulumi preview/up --policy-pack policy`) and the test suite (`tests/policy`,
which runs these functions against what `scripts/synth.py` synthesizes for each
stack). Objects are in wire shape (camelCase), as the Kubernetes API, the synth
manifests and CrossGuard's `args.props` have them; any `Mapping`/`Sequence`
works, so CrossGuard's read-only proxies need no conversion.

Enforcement: every violation is mandatory, except where dev needs an exception
(`Violation.mandatory` is False, and `exception` says why). There is one such
exception today, DEV_PUBLIC_IMAGES: the dev stack's in-cluster PostgreSQL and
Redis run the upstream images by a version tag, not from the stack's registry by
digest. In any other environment (staging, production) every rule is mandatory.

Messages never quote a secret-looking value: they name the resource, the
container or key, what is wrong, and the fix.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from components.config import PROJECT, RESOURCE_NAMES
from components.labels import REQUIRED_LABELS

REPO_ROOT = Path(__file__).resolve().parent.parent

DOCKER_IMAGE_TYPE = "docker:index/image:Image"

# Workloads that run pods; where each keeps its pod spec.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_TEMPLATE_LABEL_PATHS: Mapping[str, tuple[str, ...]] = {
    kind: path[:-1] + ("metadata", "labels") for kind, path in POD_SPEC_PATHS.items() if kind != "Pod"
}
# Long-running workloads need liveness and readiness probes; run-to-completion ones (Job, CronJob) do not.
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")

# The dev exception: upstream data-service images by version tag (dev only, advisory).
DEV_ENVIRONMENT = "development"
DEV_PUBLIC_IMAGES = ("postgres", "redis")  # app.kubernetes.io/name of the in-cluster data services
DEV_PUBLIC_IMAGES_REASON = (
    "dev exception (advisory in development only): the in-cluster PostgreSQL/Redis of the dev stack run the "
    "upstream image by a pinned version tag; prod uses managed data services, so this never reaches production"
)

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
BASE_IMAGE_ARG = re.compile(r"_IMAGE$")


# ── context and results ──────────────────────────────────────────────────────


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


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str  # kind/namespace/name (or the docker image)
    problem: str
    fix: str
    container: Optional[str] = None
    exception: Optional[str] = None  # set when a dev exception makes this advisory

    @property
    def mandatory(self) -> bool:
        return self.exception is None

    @property
    def message(self) -> str:
        where = self.resource + (f", container {self.container!r}" if self.container else "")
        text = f"[{self.rule}] {where}: {self.problem}. Fix: {self.fix}"
        if self.exception:
            text += f" ({self.exception})"
        return text

    def __str__(self) -> str:
        return self.message


class Unknown:
    """A value not known yet (a preview of something not built or created): rules skip it."""

    _instance: Optional["Unknown"] = None

    def __new__(cls) -> "Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = Unknown()


# ── helpers ──────────────────────────────────────────────────────────────────


def _get(obj: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(obj, Mapping) and key in obj:
            obj = obj[key]
        else:
            return default
    return obj


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


# Pulumi resource types under kubernetes:* that are not Kubernetes API objects.
NOT_API_OBJECTS = re.compile(r"^kubernetes:(helm\.sh|yaml|kustomize)[/:]")


def kind_of(obj: Mapping[str, Any], resource_type: Optional[str] = None) -> str:
    """The object's kind; "" for anything that is not a Kubernetes API object."""
    if resource_type and NOT_API_OBJECTS.match(resource_type):
        return ""
    kind = obj.get("kind") if _is_map(obj) else None
    if isinstance(kind, str) and kind:
        return kind
    if resource_type and resource_type.startswith("kubernetes:"):
        return resource_type.rsplit(":", 1)[-1]
    return ""


def describe(obj: Mapping[str, Any], kind: str, fallback_name: Optional[str] = None) -> str:
    """`Kind/namespace/name` (cluster-scoped: `Kind/name`)."""
    name = _get(obj, "metadata", "name")
    if not isinstance(name, str) or not name:
        name = f"{fallback_name} (auto-named)" if fallback_name else "<unnamed>"
    namespace = _get(obj, "metadata", "namespace")
    if isinstance(namespace, Unknown):
        namespace = "<namespace unknown during preview>"
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def pod_spec(obj: Mapping[str, Any], kind: str) -> Optional[Mapping[str, Any]]:
    path = POD_SPEC_PATHS.get(kind)
    spec = _get(obj, *path) if path else None
    return spec if _is_map(spec) else None


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(field, container) for init, regular and ephemeral containers."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        items = spec.get(field)
        if _is_list(items):
            for container in items:
                if _is_map(container):
                    yield field, container


def _container_name(container: Mapping[str, Any]) -> str:
    name = container.get("name")
    return name if isinstance(name, str) else "<unnamed>"


# ── rules over Kubernetes objects ────────────────────────────────────────────

Check = Callable[[Mapping[str, Any], str, StackContext, Optional[str]], list[Violation]]

HARDENING_FIX = (
    "use the secure defaults from components/security.py (pod_security_context + container_security_context: "
    "runAsNonRoot with a numeric non-root runAsUser, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, "
    "privileged: false, capabilities.drop: [ALL]) and mount an emptyDir for each writable path"
)


def check_container_hardening(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Non-root, read-only root filesystem, no privilege escalation, all capabilities dropped."""
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    pod_ctx = spec.get("securityContext") if _is_map(spec.get("securityContext")) else {}
    found = []

    def bad(container: str, problem: str) -> None:
        found.append(Violation("container-hardening", where, problem, HARDENING_FIX, container=container))

    for _, c in containers(spec):
        cname = _container_name(c)
        sc = c.get("securityContext") if _is_map(c.get("securityContext")) else {}
        non_root = sc.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_ctx.get("runAsUser"))
        if non_root is not True:
            bad(cname, "runAsNonRoot is not true (neither in the container nor the pod securityContext)")
        if user == 0:
            bad(cname, "runAsUser is 0 (root)")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad(cname, "securityContext.readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad(cname, "securityContext.allowPrivilegeEscalation is not false")
        if sc.get("privileged") is True:
            bad(cname, "securityContext.privileged is true")
        caps = sc.get("capabilities") if _is_map(sc.get("capabilities")) else {}
        drop = caps.get("drop") if _is_list(caps.get("drop")) else []
        if "ALL" not in drop:
            bad(cname, "securityContext.capabilities.drop does not include ALL")
        add = caps.get("add") if _is_list(caps.get("add")) else []
        if add:
            bad(cname, f"securityContext.capabilities.add grants {sorted(map(str, add))}")
    if spec.get("hostNetwork") is True or spec.get("hostPID") is True or spec.get("hostIPC") is True:
        found.append(Violation("container-hardening", where, "the pod shares a host namespace (hostNetwork/hostPID/hostIPC)",
                               "remove hostNetwork, hostPID and hostIPC from the pod spec"))
    return found


RESOURCES_FIX = (
    "set requests and limits for " + ", ".join(RESOURCE_NAMES) + " on every container (app workloads: "
    "components/workload.py container_resources, sized by mbhealth:services.<name>.requests/limits in "
    "Pulumi.<stack>.yaml or components/config.py SERVICE_DEFAULTS)"
)


def check_resources(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Requests and limits for cpu, memory and ephemeral storage on every container."""
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    found = []
    for field, c in containers(spec):
        if field == "ephemeralContainers":
            continue  # the API does not allow resources on ephemeral (debug) containers
        resources = c.get("resources") if _is_map(c.get("resources")) else {}
        for section in ("requests", "limits"):
            values = resources.get(section) if _is_map(resources.get(section)) else {}
            missing = [r for r in RESOURCE_NAMES if r not in values]
            if missing:
                found.append(Violation("resources", where, f"resources.{section} has no {', '.join(missing)}", RESOURCES_FIX,
                                       container=_container_name(c)))
    return found


PROBES_FIX = (
    "give the process both a livenessProbe and a readinessProbe (app workloads: the ProcessSpec in "
    "components/build_specs.py -> components/probes.py probes_for; liveness must not be the readiness check)"
)


def check_probes(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Liveness and readiness probes on long-running workloads (not Jobs)."""
    if kind not in LONG_RUNNING:
        return []
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    found = []
    for field, c in containers(spec):
        if field != "containers":
            continue  # init containers run to completion; probes are not allowed on them
        missing = [p for p in ("livenessProbe", "readinessProbe") if not _is_map(c.get(p))]
        if missing:
            found.append(Violation("probes", where, f"no {' and no '.join(missing)}", PROBES_FIX, container=_container_name(c)))
    return found


IMAGE_FIX = (
    "deploy the image the stack built or promoted, by digest: components/image.py release_images "
    "(ContainerImage.repo_digest, or mbhealth:images digests copied into this registry) -> "
    "`{prefix}<name>@sha256:<digest>`; never a tag, never `latest`"
)
DATA_IMAGE_FIX = (
    "mirror the upstream image into the stack's registry and set mbhealth:dataServices.postgresImage/redisImage "
    "to it by digest (`{prefix}<name>@sha256:<digest>`)"
)
TAG_FIX = "name a specific version tag (e.g. postgres:15.10-alpine) or, better, a digest; never `latest` or no tag"


def split_image(ref: str) -> tuple[str, Optional[str], Optional[str]]:
    """`repo[:tag][@digest]` -> (repository, tag, digest)."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    return ref, tag, digest


def _is_data_service(obj: Mapping[str, Any]) -> bool:
    return _get(obj, "metadata", "labels", "app.kubernetes.io/name") in DEV_PUBLIC_IMAGES


def _is_dev_public_image(obj: Mapping[str, Any], kind: str, ctx: StackContext) -> bool:
    return ctx.is_development and kind in LONG_RUNNING and _is_data_service(obj)


def check_images(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Images come from the stack's registry, pinned by digest; never `latest` (dev data services: see DEV_PUBLIC_IMAGES)."""
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    fix = IMAGE_FIX.format(prefix=ctx.repository_prefix)
    found = []
    for _, c in containers(spec):
        cname = _container_name(c)
        image = c.get("image")
        if isinstance(image, Unknown):
            continue  # an image not built yet in a preview; checked again by `pulumi up` once its digest is known
        if not isinstance(image, str) or not image:
            found.append(Violation("image-pinning", where, "no image", fix, container=cname))
            continue
        repository, tag, digest = split_image(image)
        if tag == "latest" or (tag is None and digest is None):
            found.append(Violation("image-pinning", where, f"image {image!r} uses `latest` (explicitly or by having no tag)",
                                   fix if image.startswith(ctx.repository_prefix) else TAG_FIX, container=cname))
            continue
        problems = []
        if not image.startswith(ctx.repository_prefix):
            problems.append(f"not from the stack's registry ({ctx.repository_prefix}...)")
        if not DIGEST.search(image):
            problems.append("not pinned by digest (@sha256:<64 hex>)")
        if problems:
            data_service = _is_data_service(obj)
            exception = DEV_PUBLIC_IMAGES_REASON if data_service and _is_dev_public_image(obj, kind, ctx) else None
            found.append(Violation("image-pinning", where, f"image {image!r} is " + " and ".join(problems),
                                   DATA_IMAGE_FIX.format(prefix=ctx.repository_prefix) if data_service else fix,
                                   container=cname, exception=exception))
    return found


SERVICE_FIX = (
    "use type ClusterIP and expose the app through the Ingress (components/ingress.py); only the ingress "
    "controller's own Service may be a LoadBalancer or NodePort"
)


def check_service_exposure(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """No Service of type LoadBalancer or NodePort, except the ingress controller's."""
    if kind != "Service":
        return []
    service_type = _get(obj, "spec", "type")
    if service_type not in ("LoadBalancer", "NodePort"):
        return []
    namespace = _get(obj, "metadata", "namespace")
    component = _get(obj, "metadata", "labels", "app.kubernetes.io/component")
    if namespace == ctx.ingress_controller_namespace and component == "controller":
        return []  # the ingress controller's Service (this program creates none)
    return [Violation("service-exposure", describe(obj, kind, name), f"Service type is {service_type}", SERVICE_FIX)]


# Secret detection: key names, credentials in URLs, PEM blocks, well-known token shapes, entropy.
_SENSITIVE_WORDS = {"PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "TOKENS", "APIKEY",
                    "CREDENTIAL", "CREDENTIALS", "PRIVATEKEY"}
_KEY_QUALIFIERS = {"SECRET", "API", "ACCESS", "PRIVATE", "SIGNING", "ENCRYPTION", "MASTER", "CLIENT", "SESSION", "AUTH"}
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
_TOKEN_SHAPES = (
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"\bsk_(live|test)_[A-Za-z0-9]{16,}"),  # Stripe keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),  # JWTs
)


def _key_words(key: str) -> list[str]:
    return [w.upper() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", key)]


def key_looks_secret(key: str) -> bool:
    """PASSWORD / SECRET / TOKEN / ..._KEY style names (camelCase and snake_case)."""
    words = _key_words(key)
    joined = ["".join(words[i:i + 2]) for i in range(len(words) - 1)]
    if _SENSITIVE_WORDS & (set(words) | set(joined)):
        return True
    return bool(words) and words[-1] == "KEY" and (len(words) == 1 or words[-2] in _KEY_QUALIFIERS)


# A git commit SHA as a release names itself (deploy.yml's imageTag is $GITHUB_SHA: the VERSION build
# arg, the app.kubernetes.io/version label): random-looking by nature, but only a name. It is exempt
# from the entropy test under a key that says it holds a version (VERSION, APP_VERSION, GIT_COMMIT,
# GIT_SHA, SOURCE_REVISION, …), never by its value alone: 40 hex is also the shape of real secrets
# (classic GitHub tokens, API keys, salts), which stay flagged under any other key.
_VERSION_WORDS = {"VERSION", "REVISION", "COMMIT", "SHA"}
_GIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{7,12}")


def key_names_a_version(key: str) -> bool:
    """VERSION / APP_VERSION / gitCommit / GIT_SHA / SOURCE_REVISION style names that are not secret-looking."""
    words = _key_words(key)
    return bool(words) and words[-1] in _VERSION_WORDS and not key_looks_secret(key)


def is_git_sha(value: str) -> bool:
    """A git commit SHA as git prints it: 40 lower-case hex digits, or a short 7-12."""
    return _GIT_SHA.fullmatch(value) is not None


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def value_secret_reason(value: str, entropy: bool = True, key: Optional[str] = None) -> Optional[str]:
    """Why a value looks like a secret (never the value itself), or None.

    entropy=False skips the high-entropy test (for binary content, random by nature).
    key: the name the value is held under (a build arg, an env var, a ConfigMap key): a git
    commit SHA under a version key (VERSION=<40 hex>) is a release name, not a secret.
    """
    if _URL_CREDENTIALS.search(value):
        return "a URL with embedded credentials"
    if _PEM.search(value):
        return "a PEM block (key or certificate)"
    if any(shape.search(value) for shape in _TOKEN_SHAPES):
        return "a well-known token format"
    token = value.strip()
    if key is not None and key_names_a_version(key) and is_git_sha(token):
        return None
    if entropy and len(token) >= 20 and not re.search(r"\s", token) and "://" not in token and not token.startswith("/"):
        entropy = shannon_entropy(token)
        hexish = re.fullmatch(r"[0-9a-fA-F]+", token) is not None
        if entropy >= 4.0 or (hexish and len(token) >= 32 and entropy >= 3.0):
            return f"a high-entropy string ({entropy:.1f} bits/char)"
    return None


SECRET_FIX = (
    "put the value in a Kubernetes Secret (a Pulumi secret in components/app_env.py AppEnvironment(secret=...)) "
    "and reference it with envFrom.secretRef or env.valueFrom.secretKeyRef; never a ConfigMap or an env literal"
)


def check_plaintext_secrets(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """No secret-looking key or value in a ConfigMap or a container env literal."""
    where = describe(obj, kind, name)
    found = []

    def inspect(key: str, value: Any, what: str, container: Optional[str] = None, binary: bool = False) -> None:
        if isinstance(value, Unknown) or value is None:
            return
        text = value if isinstance(value, str) else str(value)
        reasons = []
        if key_looks_secret(key) and text:
            reasons.append("its name says it holds a secret")
        if binary:
            try:
                text = base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                pass
        reason = value_secret_reason(text, entropy=not binary, key=key)
        if reason:
            reasons.append(f"its value looks like {reason}")
        if reasons:
            found.append(Violation("no-plaintext-secrets", where, f"{what} {key!r} is in plain text and {' and '.join(reasons)}",
                                   SECRET_FIX, container=container))

    if kind == "ConfigMap":
        for field in ("data", "binaryData"):
            data = obj.get(field)
            if _is_map(data):
                for key, value in data.items():
                    inspect(str(key), value, f"ConfigMap {field} key", binary=field == "binaryData")
    spec = pod_spec(obj, kind)
    if spec is not None:
        for _, c in containers(spec):
            env = c.get("env")
            if _is_list(env):
                for var in env:
                    if _is_map(var) and "value" in var and not _is_map(var.get("valueFrom")):
                        inspect(str(var.get("name", "")), var.get("value"), "env var", container=_container_name(c))
    return found


LABELS_FIX = (
    "label it with components/labels.py standard_labels(name, component, version, stack) "
    "(" + ", ".join(REQUIRED_LABELS) + ")"
)


def check_standard_labels(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Every object (and every workload's pod template) carries the standard labels."""
    where = describe(obj, kind, name)
    found = []
    places = [("metadata.labels", ("metadata", "labels"))]
    if kind in POD_TEMPLATE_LABEL_PATHS:
        path = POD_TEMPLATE_LABEL_PATHS[kind]
        places.append((".".join(path), path))
    for label, path in places:
        labels = _get(obj, *path)
        labels = labels if _is_map(labels) else {}
        missing = [key for key in REQUIRED_LABELS if key not in labels]
        if missing:
            found.append(Violation("standard-labels", where, f"{label} lacks {', '.join(missing)}", LABELS_FIX))
    return found


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


# ── rules over image builds (docker:index/image:Image) ───────────────────────

BUILD_FIX = (
    "build through ContainerImage (components/image.py) from components/build_specs.py: imageName "
    "`{prefix}<name>:<release tag>` (mbhealth:imageTag, never `latest`), base images as version-tagged "
    "*_IMAGE build args, and no secrets in build args (they stay in the image history)"
)


def check_image_build(props: Mapping[str, Any], ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """A docker.Image pushes to the stack's registry under a release tag; base images and build args are safe."""
    image_name = props.get("imageName")
    where = f"docker Image {name or '<unnamed>'}"
    fix = BUILD_FIX.format(prefix=ctx.repository_prefix)
    found = []
    if isinstance(image_name, str):
        where = f"docker Image {name or image_name} ({image_name})"
        _, tag, _ = split_image(image_name)
        if tag in (None, "latest"):
            found.append(Violation("image-pinning", where, "imageName has no release tag (it is `latest`)", fix))
        if not image_name.startswith(ctx.repository_prefix):
            found.append(Violation("image-pinning", where, f"imageName is not in the stack's registry ({ctx.repository_prefix}...)", fix))
    args = _get(props, "build", "args")
    if _is_map(args):
        for key, value in args.items():
            if isinstance(value, Unknown) or value is None:
                continue
            if BASE_IMAGE_ARG.search(str(key)):
                _, tag, digest = split_image(str(value))
                if digest is None and tag in (None, "latest"):
                    found.append(Violation("image-pinning", where, f"base image build arg {key} uses `latest` (explicitly or by having no tag)", fix))
            reason = value_secret_reason(str(value), key=str(key))
            if key_looks_secret(str(key)) or reason:
                found.append(Violation("no-plaintext-secrets", where,
                                       f"build arg {key!r} looks like a secret ({reason or 'by its name'})", fix))
    return found


# ── entry points ─────────────────────────────────────────────────────────────


def evaluate(resource_type: str, props: Mapping[str, Any], ctx: StackContext, name: Optional[str] = None,
             rules: Iterable[str] | None = None) -> list[Violation]:
    """Every violation of `rules` (default: all) by one resource, as CrossGuard sees it (type + input props)."""
    wanted = set(rules) if rules is not None else set(RULES_BY_ID)
    if resource_type == DOCKER_IMAGE_TYPE:
        return [v for v in check_image_build(props, ctx, name) if v.rule in wanted]
    if not resource_type.startswith("kubernetes:") or not _is_map(props):
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
