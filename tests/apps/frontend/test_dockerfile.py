"""The frontend Dockerfile agrees with the build and process specs (one source of truth).

Static checks that need no Docker engine; the image suites build and run the real thing.
"""

from __future__ import annotations

import json
import re

from components.build_specs import APP_GID, APP_UID, FRONTEND_BUILD, FRONTEND_WEB

from .harness import ENTRYPOINT, FRONTEND, TEMPLATE

DOCKERFILE = FRONTEND_BUILD.dockerfile_path()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            name = args.split(" AS ")[-1].strip() if " AS " in args else args
            current = result.setdefault(name, [])
        elif current is not None:
            current.append((keyword, args))
    return result


def test_base_image_args_are_the_specs() -> None:
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax=", text, re.M), "no `# syntax=` line: BuildKit would try to pull it"
    global_args = dict(
        args.split("=", 1) for keyword, args in instructions(text.split("\nFROM ", 1)[0]) if keyword == "ARG"
    )
    froms = {name: image for name, image in (
        (args.split(" AS ")[-1], args.split(" AS ")[0]) for keyword, args in instructions(text) if keyword == "FROM")}
    # Each base arg defaults to a stage that is the upstream image, a literal FROM Dependabot bumps.
    assert {arg: froms[stage] for arg, stage in global_args.items()} == dict(FRONTEND_BUILD.base_image_args)
    assert set(global_args.values()) == {"upstream-node", "upstream-nginx"}
    assert not any(stages()[stage] for stage in global_args.values()), "the upstream-* stages add nothing"
    assert FRONTEND_BUILD.context == "apps/frontend" and DOCKERFILE.parent == FRONTEND


def test_targets_and_production_is_the_default() -> None:
    names = list(stages())
    assert FRONTEND_BUILD.target == "production"
    assert {"production", "development"} <= set(names)
    assert names[-1] == "production", "a plain `docker build` should give the production image"


def test_production_stage_matches_the_process_spec() -> None:
    production = stages()["production"]
    values: dict[str, list[str]] = {}
    for keyword, args in production:
        values.setdefault(keyword, []).append(args)
    assert values["USER"] == [f"{APP_UID}:{APP_GID}"]
    assert values["EXPOSE"] == [str(FRONTEND_WEB.port)]
    assert values["STOPSIGNAL"] == ["SIGQUIT"]
    (healthcheck,) = values["HEALTHCHECK"]
    assert f"http://127.0.0.1:{FRONTEND_WEB.port}{FRONTEND_WEB.readiness_path}" in healthcheck
    assert "curl" not in healthcheck
    (entrypoint,) = values["ENTRYPOINT"]
    assert json.loads(entrypoint) == ["/usr/local/bin/frontend-entrypoint"], "exec form, so the script is PID 1"
    assert not FRONTEND_WEB.command, "Kubernetes must leave the image's entrypoint alone"
    assert "CMD" not in values
    assert any("org.opencontainers.image.version" in label and "${VERSION}" in label for label in values["LABEL"])
    # Portable across nginx bases: no package manager in the final stage.
    assert not any(re.search(r"\b(apk|apt-get|apt|dnf|yum)\b", args) for args in values.get("RUN", []))


def test_nginx_config_matches_the_process_spec() -> None:
    assert f"NGINX_LISTEN=${{NGINX_LISTEN:-{FRONTEND_WEB.port}}}" in ENTRYPOINT.read_text()
    template = TEMPLATE.read_text()
    assert f"location = {FRONTEND_WEB.readiness_path} {{" in template
    assert FRONTEND_WEB.liveness_tcp
    # Everything nginx writes resolves under the -p prefix in /tmp (the only writable path).
    assert set(FRONTEND_WEB.writable_paths) == {"/tmp"}
    assert "NGINX_RUNTIME_DIR=${NGINX_RUNTIME_DIR:-/tmp/nginx}" in ENTRYPOINT.read_text()
    for directive in ("pid", *(f"{kind}_temp_path" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))):
        match = re.search(rf"^\s*{directive}\s+(\S+);", template, re.M)
        assert match, f"{directive} is not set: nginx would use its compiled-in path"
        assert not match.group(1).startswith("/"), f"{directive} must be relative to the runtime dir"
    assert "worker_shutdown_timeout 10s;" in template
    assert FRONTEND_WEB.drain_seconds >= 10


def test_dockerignore_is_an_allowlist() -> None:
    lines = [
        line.strip()
        for line in (FRONTEND / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start from nothing, then allow what the build needs"
    allowed = [line[1:] for line in lines if line.startswith("!")]
    assert not any(p.startswith(("node_modules", "dist")) for p in allowed)
    for needed in ("package.json", "package-lock.json", "src/", "public/", "nginx/entrypoint.sh"):
        assert needed in allowed
    # Every file the Dockerfile copies from the context is allowed in.
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.M)
    assert len(copied) >= 5, copied
    for sources in copied:
        for source in sources.split():
            assert any(source == a.rstrip("/") or source.startswith(a) for a in allowed), source
