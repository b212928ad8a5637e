"""Stack configuration: read the stack's config once, validate everything, return frozen values.

Components never read config themselves; they take the typed values built here. Each value
is a frozen pydantic model (strict types, unknown keys forbidden) that is at once the schema
of its `mbhealth:<key>` and what the components take: a setting is one field, and a rule
between settings is a validator beside them. Every problem is reported at once, before any
resource registers, one line each: `mbhealth:<key>: <what is wrong>; expected <accepted form>`.

Nothing a user writes is silently ignored or changed:
- an unknown key, at any level, is an error naming the closest valid one;
- a setting that is text (a tag, a name, a host) written as a YAML number, boolean or
  empty value is refused with a "write it in quotes" hint, because YAML would have
  changed it (`1.10` -> 1.1, `0123456` -> 42798, empty -> null);
- a value with no effect (`replicas` beside `autoscaling`, `dataServices.redis` with in-cluster
  data services) is an error;
- a secret committed in plain text is refused with the `pulumi config set --secret` to run.
`ConfigError` is a `pulumi.RunError`: under `pulumi up` it prints as those lines, no traceback.

Modules: forms (leaf types and their accepted forms), model (the base model and its rules), secrets,
services, registry (and images), ingress, cluster, data, stack (StackConfig and the rules between
settings), schema and messages (the one renderer), reading (the engine's config -> StackConfig).
"""

from components.config.cluster import ClusterConfig
from components.config.data import (
    DATA_SERVICE_MODES,
    DEFAULT_PORTS,
    EXTERNAL_SERVICES,
    ExternalDataConfig,
    ExternalEndpoint,
    InClusterDataConfig,
)
from components.config.errors import ConfigError, SecretConfigError
from components.config.forms import (
    PINNED_FORM,
    PINNED_RE,
    PROJECT,
    ImageTag,
    versioned_image,
)
from components.config.ingress import IngressConfig
from components.config.reading import (
    RawConfig,
    load_stack_config,
    raw_config,
    read_stack_config,
    stack_file_path,
)
from components.config.registry import IMAGE_SOURCES, ImageSource, RegistryConfig
from components.config.secrets import SECRET_KEYS
from components.config.services import (
    RESOURCE_NAMES,
    SERVICE_DEFAULTS,
    SERVICES,
    Autoscaling,
    Resources,
    ServiceConfig,
    deep_merge,
)
from components.config.stack import (
    ENVIRONMENTS,
    LOG_LEVELS,
    PLATFORMS,
    StackConfig,
    host_platform,
)

__all__ = [
    "DATA_SERVICE_MODES", "DEFAULT_PORTS", "ENVIRONMENTS", "EXTERNAL_SERVICES", "IMAGE_SOURCES", "LOG_LEVELS", "PINNED_FORM", "PINNED_RE", "PLATFORMS",
    "PROJECT", "RESOURCE_NAMES", "SECRET_KEYS", "SERVICES", "SERVICE_DEFAULTS", "Autoscaling", "ClusterConfig",
    "ConfigError", "ExternalDataConfig", "ExternalEndpoint", "ImageSource", "ImageTag", "InClusterDataConfig",
    "IngressConfig", "RawConfig", "RegistryConfig", "Resources", "SecretConfigError", "ServiceConfig", "StackConfig",
    "deep_merge", "host_platform", "load_stack_config", "raw_config", "read_stack_config", "stack_file_path",
    "versioned_image",
]
