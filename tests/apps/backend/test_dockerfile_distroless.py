"""Static checks of the backend's `production-distroless` target (no engine needed).

The e2e suite (tests/e2e/test_pods.py, `backendVariant: distroless`) builds it on a shell-less
stand-in and runs the stack's pods on it on the real node; these pin what a reader checks by eye.
"""

from __future__ import annotations

import json

from components.build_specs import BACKEND_API, BACKEND_DISTROLESS_BUILD, BACKEND_VARIANTS
from tests.apps.backend.test_dockerfile import DOCKERFILE, PREAMBLE, STAGES

BUILDER = STAGES["distroless-builder"]
FINAL = STAGES["production-distroless"]


def test_spec_and_build_args_match_the_dockerfile() -> None:
    assert BACKEND_VARIANTS["distroless"] is BACKEND_DISTROLESS_BUILD
    assert BACKEND_DISTROLESS_BUILD.dockerfile_path() == DOCKERFILE
    assert BACKEND_DISTROLESS_BUILD.target == "production-distroless"
    # Each base arg defaults to a stage whose literal FROM is the real upstream image.
    defaults = dict(a.split("=", 1) for kw, a in PREAMBLE if kw == "ARG" and "=" in a)
    for arg, real in BACKEND_DISTROLESS_BUILD.base_image_args.items():
        assert STAGES[defaults[arg]].base == real, arg


def test_builder_builds_the_venv_against_debians_python_before_copying_code() -> None:
    runs = BUILDER.get("RUN")
    apt = next(r for r in runs if "apt-get install" in r)
    assert "--no-install-recommends" in apt and "python3-venv=" in apt  # pinned (hadolint DL3008)
    assert "--mount=type=cache" in apt
    # /usr/bin/python3.11 is the interpreter distroless ships: the venv's python links to it.
    assert "/usr/bin/python3.11 -m venv /opt/venv" in apt
    keywords = [(kw, a) for kw, a in BUILDER.instructions if kw in ("COPY", "RUN")]
    install = next(i for i, (kw, a) in enumerate(keywords) if "pip install" in a)
    assert keywords[install - 1] == ("COPY", "requirements.txt ./")
    assert "--mount=type=cache,target=/root/.cache/pip" in keywords[install][1]
    assert "pip uninstall --yes pip setuptools wheel" in keywords[install][1]
    assert keywords[install + 1] == ("COPY", "mbhealth ./mbhealth")


def test_final_stage_is_copy_only_with_a_numeric_user_and_exec_form_commands() -> None:
    assert not FINAL.get("RUN") and not FINAL.get("ADD"), "distroless has no shell to RUN anything"
    assert FINAL.get("COPY") == [
        "--from=distroless-builder /opt/venv /opt/venv",
        "--from=distroless-builder /app/mbhealth /app/mbhealth",
    ]
    assert FINAL.get("USER") == ["10001:10001"]
    env = " ".join(FINAL.get("ENV"))
    for setting in ("PATH=/opt/venv/bin:$PATH", "PYTHONPATH=/app", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in env
    # The base's ENTRYPOINT (/usr/bin/python3.11) is cleared: CMD runs as written.
    assert FINAL.get("ENTRYPOINT") == ["[]"]
    assert json.loads(FINAL.get("CMD")[0]) == list(BACKEND_API.command)
    assert json.loads(FINAL.get("HEALTHCHECK")[0].split("CMD", 1)[1]) == ["python", "-m", "mbhealth", "probe", "api-ready"]
    assert FINAL.get("STOPSIGNAL") == ["SIGTERM"] and FINAL.get("EXPOSE") == ["8000"]
    keywords = [kw for kw, _ in FINAL.instructions]
    assert keywords.index("ARG") > max(i for i, kw in enumerate(keywords) if kw == "COPY")
