"""Static checks of apps/backend/Dockerfile against the image contract (no engine needed).

The real-engine suite (tests/images) builds and runs the image; these checks pin the
properties a reader would otherwise have to verify by eye.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field

import pytest

from tests.apps.backend.helpers import BACKEND_DIR, REPO_ROOT

DOCKERFILE = BACKEND_DIR / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def get(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[list[tuple[str, str]], dict[str, Stage]]:
    """(global instructions before the first FROM, stages by name); joins continuations."""
    logical: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    preamble: list[tuple[str, str]] = []
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            assert match, line
            current = Stage(name=match.group(2) or f"stage{len(stages)}", base=match.group(1))
            stages[current.name] = current
        elif current is None:
            preamble.append((keyword, args.strip()))
        else:
            current.instructions.append((keyword, args.strip()))
    return preamble, stages


TEXT = DOCKERFILE.read_text()
PREAMBLE, STAGES = parse(TEXT)


def test_no_syntax_directive_and_base_image_is_a_build_arg() -> None:
    assert not re.search(r"^#\s*syntax\s*=", TEXT, re.IGNORECASE | re.MULTILINE)
    # Each base arg defaults to a stage holding the upstream image as a literal FROM (Dependabot's view).
    upstream = {"PYTHON_IMAGE": ("upstream-python", "python:3.11-slim"),
                "PYTHON_DEV_IMAGE": ("upstream-python-dev", "python:3.11"),
                "DEBIAN_IMAGE": ("upstream-debian", "debian:12-slim"),
                "DISTROLESS_IMAGE": ("upstream-distroless", "gcr.io/distroless/python3-debian12")}
    for arg, (stage, image) in upstream.items():
        assert ("ARG", f"{arg}={stage}") in PREAMBLE
        assert STAGES[stage].base == image and not STAGES[stage].instructions, stage
    # Every other stage builds on a base arg or an earlier stage.
    for name, stage in STAGES.items():
        if name.startswith("upstream-"):
            continue
        assert stage.base in ("${PYTHON_IMAGE}", "${PYTHON_DEV_IMAGE}", "${DEBIAN_IMAGE}", "${DISTROLESS_IMAGE}") \
            or stage.base in STAGES, stage


def test_build_spec_matches_the_dockerfile() -> None:
    from components.build_specs import BACKEND_BUILD

    assert BACKEND_BUILD.dockerfile_path(REPO_ROOT) == DOCKERFILE
    assert BACKEND_BUILD.target in STAGES
    args = {a.split("=", 1)[0] for s in STAGES.values() for a in s.get("ARG")} | {
        a.split("=", 1)[0] for _, a in PREAMBLE
    }
    assert set(BACKEND_BUILD.build_args("1.0.0")) <= args


def test_stage_graph() -> None:
    assert list(STAGES) == [
        "upstream-python", "upstream-python-dev", "upstream-debian", "upstream-distroless",
        "base", "builder", "development", "runtime-venv", "production",
        "distroless-builder", "production-distroless", "worker",
    ]  # fmt: skip
    assert STAGES["builder"].base == "base"
    # Development is on the full image, on its own: no other stage builds on it or copies from it.
    assert STAGES["development"].base == "${PYTHON_DEV_IMAGE}"
    assert not any(s.base == "development" or any("--from=development" in c for c in s.get("COPY"))
                   for s in STAGES.values())
    assert STAGES["production"].base == "base", "production must not inherit the builder's layers"
    assert STAGES["worker"].base == "production"
    assert STAGES["distroless-builder"].base == "${DEBIAN_IMAGE}"
    assert STAGES["production-distroless"].base == "${DISTROLESS_IMAGE}"


def test_builder_installs_dependencies_before_the_code_with_a_pip_cache_mount() -> None:
    builder = STAGES["builder"].instructions
    copies = [i for i, (kw, _) in enumerate(builder) if kw == "COPY"]
    install = next(i for i, (kw, a) in enumerate(builder) if kw == "RUN" and "pip install" in a)
    assert builder[copies[0]][1] == "requirements.txt ./"
    assert copies[0] < install < copies[1]
    assert "--mount=type=cache,target=/root/.cache/pip" in builder[install][1]
    assert "-r requirements.txt" in builder[install][1]
    assert any("python -m venv /opt/venv" in a for a in STAGES["builder"].get("RUN"))


def test_production_holds_only_the_venv_without_installers_and_the_code() -> None:
    production = STAGES["production"]
    assert not production.get("RUN"), "no RUN in production: nothing installed, no apt"
    assert not production.get("ADD")
    assert production.get("COPY") == [
        "--from=runtime-venv /opt/venv /opt/venv",
        "--from=builder /app/mbhealth /app/mbhealth",
    ]
    strip = " ".join(STAGES["runtime-venv"].get("RUN"))
    assert "pip uninstall --yes pip setuptools wheel" in strip


def test_production_runtime_contract() -> None:
    production = STAGES["production"]
    env = " ".join(production.get("ENV")) + " " + " ".join(STAGES["base"].get("ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PATH=/opt/venv/bin:$PATH"):
        assert setting in env
    assert production.get("USER") == ["10001:10001"]
    assert production.get("EXPOSE") == ["8000"]
    assert production.get("STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(production.get("CMD")[0]) == ["python", "-m", "mbhealth", "serve"]
    healthcheck = production.get("HEALTHCHECK")[0]
    assert "curl" not in healthcheck and "wget" not in healthcheck
    assert json.loads(healthcheck.split("CMD", 1)[1]) == ["python", "-m", "mbhealth", "probe", "api-ready"]
    labels = " ".join(production.get("LABEL"))
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    # VERSION comes last, so a new release reuses every filesystem layer.
    keywords = [kw for kw, _ in production.instructions]
    assert keywords.index("ARG") > max(i for i, kw in enumerate(keywords) if kw == "COPY")


def test_worker_target_changes_only_metadata() -> None:
    worker = STAGES["worker"]
    assert {kw for kw, _ in worker.instructions} <= {"CMD", "HEALTHCHECK", "LABEL"}
    assert json.loads(worker.get("CMD")[0]) == ["python", "-m", "mbhealth", "worker"]
    assert json.loads(worker.get("HEALTHCHECK")[0].split("CMD", 1)[1]) == [
        "python", "-m", "mbhealth", "probe", "worker-alive",
    ]  # fmt: skip


def test_commands_match_the_process_specs() -> None:
    from components.build_specs import BACKEND_API, MIGRATE, WORKER

    assert json.loads(STAGES["production"].get("CMD")[0]) == list(BACKEND_API.command)
    assert json.loads(STAGES["worker"].get("CMD")[0]) == list(WORKER.command)
    assert BACKEND_API.port == 8000
    from mbhealth.cli import build_parser
    from mbhealth.probes import PROBES

    parser = build_parser()
    for spec in (BACKEND_API, WORKER, MIGRATE):
        assert parser.parse_args(list(spec.command[3:])).command == spec.command[3]
    for probe in (WORKER.readiness_exec, WORKER.liveness_exec):
        assert probe[:4] == ("python", "-m", "mbhealth", "probe") and probe[4] in PROBES


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    excluded = False
    for raw in (BACKEND_DIR / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, c) for c in candidates for p in prefixes) or any(
            fnmatch.fnmatchcase(part, pattern.removeprefix("**/")) for part in parts if pattern.startswith("**/")
        ):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("requirements.txt", False),
        ("requirements-dev.txt", False),
        ("mbhealth/cli.py", False),
        ("mbhealth/migrations/versions/0001_task_results.py", False),
        ("mbhealth/migrations/script.py.mako", False),
        ("mbhealth/__pycache__/cli.cpython-311.pyc", True),
        (".env", True),
        ("tests/test_x.py", True),
        (".venv/bin/python", True),
        ("Dockerfile", True),
        ("notes.md", True),
    ],
)
def test_dockerignore_is_an_allow_list(path: str, excluded: bool) -> None:
    assert _dockerignore_excludes(path) is excluded


def test_everything_the_dockerfile_copies_from_the_context_is_allowed() -> None:
    for stage in STAGES.values():
        for args in stage.get("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _dest = args.split()
            for source in sources:
                root = BACKEND_DIR / source
                assert root.exists(), f"COPY source {source} is missing"
                for file in root.rglob("*") if root.is_dir() else [root]:
                    rel = file.relative_to(BACKEND_DIR).as_posix()
                    if file.is_file() and "__pycache__" not in rel:
                        assert not _dockerignore_excludes(rel), rel
