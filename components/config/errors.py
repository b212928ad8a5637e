"""The two errors a bad stack config raises; both print as their lines alone under `pulumi up`."""

from __future__ import annotations

import pulumi


class ConfigError(pulumi.RunError, ValueError):
    """One or more stack config values are invalid; the message lists each key.

    A `pulumi.RunError`: the Python language host prints its message alone (no stack
    trace), the way `make synth` prints it.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


class SecretConfigError(pulumi.RunError):
    """Config that only a secret's value shows to be wrong, found inside the secret's `apply`
    (e.g. a data service URL outside the egress the stack allows): the same lines as ConfigError.

    Not a ValueError: the SDK would wrap that in the resource's context (and print the chain);
    a RunError passes through unchanged and prints as its message alone.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))
