"""Secret detection: key names, credentials in URLs, PEM blocks, well-known token shapes, entropy.

Hand-written: detect-secrets scans source lines with other keyword regexes and entropy limits (base64 4.5, hex 3.0), not one key/value pair.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Optional

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
