"""Synth's stand-in image digests change exactly when a real build would (one test per input)."""

from __future__ import annotations

import pytest

from scripts.synth import DockerIgnore, context_files, rebuild_digest

BUILD = {"context": "app", "dockerfile": "app/Dockerfile", "target": "production",
         "args": {"VERSION": "1.0.0", "BASE_IMAGE": "python:3.11-slim"}, "platform": "linux/amd64",
         "builderVersion": "BuilderBuildKit", "cacheFrom": {"images": ["registry/app:1.0.0"]}}


@pytest.fixture
def root(tmp_path):
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "tests").mkdir()
    (app / "Dockerfile").write_text("FROM base\nCOPY src /app\nUSER 10001:10001\n")
    (app / ".dockerignore").write_text("*\n!src/\n**/*.pyc\n")
    (app / "src" / "main.py").write_text("print('hi')\n")
    (app / "tests" / "test_main.py").write_text("def test(): pass\n")
    return tmp_path


def digest(root, **changes):
    return rebuild_digest({**BUILD, **changes}, root)


def test_the_dockerfile_counts_even_when_dockerignore_excludes_it(root):
    before = digest(root)
    assert "Dockerfile" not in context_files(root / "app")
    (root / "app" / "Dockerfile").write_text("FROM base\nCOPY src /app\nUSER 0:0\n")
    assert digest(root) != before


def test_a_context_file_counts(root):
    before = digest(root)
    (root / "app" / "src" / "main.py").write_text("print('bye')\n")
    assert digest(root) != before


def test_a_new_context_file_counts(root):
    before = digest(root)
    (root / "app" / "src" / "extra.py").write_text("")
    assert digest(root) != before


def test_the_executable_bit_counts(root):
    before = digest(root)
    (root / "app" / "src" / "main.py").chmod(0o755)
    assert digest(root) != before


def test_a_file_dockerignore_excludes_does_not_count(root):
    before = digest(root)
    (root / "app" / "tests" / "test_main.py").write_text("def test(): assert False\n")
    (root / "app" / "src" / "main.pyc").write_bytes(b"\0")
    (root / "app" / "notes.txt").write_text("x")
    assert digest(root) == before


@pytest.mark.parametrize("change", [{"target": "development"}, {"args": {**BUILD["args"], "VERSION": "1.0.1"}},
                                    {"args": {**BUILD["args"], "BASE_IMAGE": "python:3.12-slim"}},
                                    {"platform": "linux/arm64"}])
def test_target_build_args_and_platform_count(root, change):
    assert digest(root, **change) != digest(root)


def test_cache_settings_do_not_count(root):
    assert digest(root, cacheFrom={"images": ["registry/app:other"]}, builderVersion="BuilderV1") == digest(root)


@pytest.mark.parametrize(
    "patterns, path, excluded",
    [
        ("*.pyc", "a.pyc", True),
        ("*.pyc", "pkg/a.pyc", False),  # Docker: no implicit **/, unlike .gitignore
        ("**/*.pyc", "pkg/deep/a.pyc", True),
        ("*\n!src/", "src/a/b.py", False),
        ("*\n!src/", "other/b.py", True),
        ("src/**/*.test.ts\n", "src/a/b.test.ts", True),
        ("src/**/*.test.ts\n", "src/b.test.ts", True),
        ("node_modules", "node_modules/x/index.js", True),
        ("/build", "build/out.js", True),
        ("*\n!nginx/entrypoint.sh", "nginx/entrypoint.sh", False),
        ("*\n!nginx/entrypoint.sh", "nginx/other.conf", True),
    ],
)
def test_dockerignore_semantics(patterns, path, excluded):
    assert DockerIgnore(patterns).excluded(path) is excluded
