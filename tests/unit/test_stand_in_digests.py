"""Synth's stand-in image digests change exactly when pulumi-docker would rebuild (one test per input).

pulumi-docker 5.x (provider/provider.go): Check adds `build.contextDigest` (hashContext: the Dockerfile,
then each context file's path, full mode and content), Diff compares every docker.Image input with the
last deploy's except registry.username and registry.password. The stand-ins hash the same, with each
file's mode as a checkout under umask 022 gives it (README "make synth").
"""

from __future__ import annotations

import copy
import os

import pytest

from scripts.build_context import DockerIgnore, context_files
from scripts.rebuild_digest import context_digest, go_file_mode, mode_drift, rebuild_digest, rebuild_inputs
from scripts.secret_markers import reveal
from scripts.synth import synthesize

INPUTS = {
    "imageName": "registry.example/mbhealth/app:1.0.0",
    "build": {"context": "app", "dockerfile": "app/Dockerfile", "target": "production",
              "args": {"VERSION": "1.0.0", "BASE_IMAGE": "python:3.11-slim"}, "platform": "linux/amd64",
              "builderVersion": "BuilderBuildKit", "cacheFrom": {"images": ["registry.example/mbhealth/app:1.0.0"]}},
    "registry": {"server": "registry.example", "username": "ci", "password": "push-token"},
    "skipPush": False,
}


@pytest.fixture
def root(tmp_path):
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "tests").mkdir()
    (app / "Dockerfile").write_text("FROM base\nCOPY src /app\nUSER 10001:10001\n")
    (app / ".dockerignore").write_text("*\n!src/\n**/*.pyc\n")
    (app / "src" / "main.py").write_text("print('hi')\n")
    (app / "tests" / "test_main.py").write_text("def test(): pass\n")
    for path in (app / "Dockerfile", app / ".dockerignore", app / "src" / "main.py", app / "tests" / "test_main.py"):
        path.chmod(0o644)  # as a checkout under umask 022 makes them, whatever this test's umask
    return tmp_path


def changed(inputs, path, value):
    """`inputs` with the value at `path` (keys) replaced."""
    result = copy.deepcopy(inputs)
    target = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return result


def digest(root, inputs=INPUTS):
    return rebuild_digest(inputs, root)


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
    os.chmod(root / "app" / "src" / "extra.py", 0o644)
    assert digest(root) != before


def test_a_renamed_context_file_counts(root):
    before = digest(root)
    (root / "app" / "src" / "main.py").rename(root / "app" / "src" / "app.py")
    assert digest(root) != before


def test_the_executable_bit_counts(root):
    before = digest(root)
    (root / "app" / "src" / "main.py").chmod(0o755)
    assert digest(root) != before


def test_group_and_other_bits_the_umask_decides_do_not_count_but_synth_names_the_files(root):
    """pulumi-docker hashes the full mode; a checkout under umask 002 would differ only here, so the stand-in
    takes the checkout form (the owner's executable bit) and mode_drift names what pulumi up would see."""
    before = digest(root)
    assert mode_drift(INPUTS["build"], root) == []
    (root / "app" / "src" / "main.py").chmod(0o664)
    (root / "app" / "tests" / "test_main.py").chmod(0o666)  # excluded by .dockerignore: not in the context
    assert digest(root) == before
    assert mode_drift(INPUTS["build"], root) == ["app/src/main.py: -rw-rw-r--"]


def test_a_file_dockerignore_excludes_does_not_count(root):
    before = digest(root)
    (root / "app" / "tests" / "test_main.py").write_text("def test(): assert False\n")
    (root / "app" / "src" / "main.pyc").write_bytes(b"\0")
    (root / "app" / "notes.txt").write_text("x")
    assert digest(root) == before


def test_the_dockerfiles_own_ignore_file_takes_precedence(root):
    """`<Dockerfile>.dockerignore` replaces the context's .dockerignore, for pulumi-docker as for BuildKit."""
    (root / "app" / "notes.txt").write_text("x")
    before = digest(root)
    (root / "app" / "Dockerfile.dockerignore").write_text("tests\n")
    assert "notes.txt" in context_files(root / "app", root / "app" / "Dockerfile.dockerignore")
    assert digest(root) != before
    with_own = digest(root)
    (root / "app" / "tests" / "test_main.py").write_text("changed\n")
    assert digest(root) == with_own


def test_a_symbolic_link_counts_by_where_it_points_not_what_it_holds(root):
    src = root / "app" / "src"
    (src / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    os.symlink("a.txt", src / "link.txt")
    os.symlink("..", src / "up")  # a link to a directory is one entry, never followed
    assert {"src/link.txt", "src/up"} <= set(context_files(root / "app"))
    before = digest(root)
    (src / "a.txt").write_text("a")  # same content
    assert digest(root) == before
    (src / "link.txt").unlink()
    os.symlink("b.txt", src / "link.txt")
    assert digest(root) != before


INPUT_CHANGES = [
    (("build", "target"), "development"),
    (("build", "args", "VERSION"), "1.0.1"),
    (("build", "args", "BASE_IMAGE"), "python:3.12-slim"),
    (("build", "args", "BUILDKIT_INLINE_CACHE"), "1"),
    (("build", "platform"), "linux/arm64"),
    # pulumi-docker's Diff counts the cache settings and the builder version too: each is a rebuild.
    (("build", "cacheFrom"), {"images": ["registry.example/mbhealth/app:other"]}),
    (("build", "builderVersion"), "BuilderV1"),
    (("build", "dockerfile"), "app/../app/Dockerfile"),
    (("imageName",), "registry.example/mbhealth/app:1.0.1"),
    (("registry", "server"), "other.example"),
    (("skipPush",), True),
]


@pytest.mark.parametrize("path, value", INPUT_CHANGES, ids=[".".join(p) for p, _ in INPUT_CHANGES])
def test_every_input_pulumi_docker_compares_counts(root, path, value):
    assert digest(root, changed(INPUTS, path, value)) != digest(root)


@pytest.mark.parametrize("key", ["username", "password"])
def test_the_registry_credentials_do_not_count(root, key):
    """pulumi-docker's Diff skips registry.username and registry.password: a new token rebuilds nothing."""
    assert digest(root, changed(INPUTS, ("registry", key), "rotated")) == digest(root)
    assert "rotated" not in repr(rebuild_inputs(changed(INPUTS, ("registry", key), "rotated"), root))


def test_a_registry_block_added_or_removed_counts(root):
    without = {k: v for k, v in INPUTS.items() if k != "registry"}
    assert digest(root, without) != digest(root)


@pytest.mark.parametrize("mode, text", [(0, "----------"), (0o100644, "-rw-r--r--"), (0o100755, "-rwxr-xr-x"),
                                        (0o100664, "-rw-rw-r--"), (0o120777, "Lrwxrwxrwx"), (0o104755, "urwxr-xr-x")])
def test_modes_read_as_gos_file_mode_strings(mode, text):
    assert go_file_mode(mode) == text


def test_the_context_digest_is_the_dockerfile_and_each_files_path_mode_and_content(root):
    app = root / "app"
    assert context_digest(app, app / "Dockerfile", root) != context_digest(app, root / "missing", root)


def test_the_programs_docker_image_inputs_all_count(monkeypatch):
    """Every input the program gives docker.Image (as the mocks receive it) changes the stand-in digest,
    except the registry credentials: nothing the provider compares is left out."""
    monkeypatch.setenv("MBH_BASE_IMAGES", "")
    result = synthesize("dev")
    images = [r for r in result.resources if r.type == "docker:index/image:Image"]
    assert images
    for image in images:
        inputs = reveal(image.inputs)
        base = rebuild_digest(inputs)
        leaves = list(_leaves(inputs))
        assert ("build", "cacheFrom", "images") in [p for p, _ in leaves]
        for path, value in leaves:
            if path[0] == "registry" and path[-1] in ("username", "password"):
                continue
            assert rebuild_digest(changed(inputs, path, _other(value))) != base, path


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    else:
        yield path, value


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, list):
        return [*value, "other"]
    return f"{value}-other"


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
