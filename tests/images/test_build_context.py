"""The build context synth hashes (scripts/build_context.py) is the one BuildKit really sends.

Each test builds `FROM scratch` + `COPY . /ctx/` on the engine, exports the result (`--output
type=local`) and compares the files the build saw with `context_files`: a tricky `.dockerignore`
(comments, `!` re-includes, `**`, directory patterns, a leading `/`, escapes, links) and the
project's own image contexts with their ignore files. The Dockerfile lives outside the context,
so only what the context sends reaches the build.

The engine here is Docker 20.10, whose BuildKit still walks the context with the legacy pattern
rules where they differ from the fsutil walk pulumi-docker 5.2 and current BuildKit run (which
`context_files` follows): a parent directory matched only at the pattern's own depth once a `!`
keeps the walk going below it, a `**` exclusion that still lets `**` prune, `**name` read as
`**/name`. The cases here are the ones both agree on; tests/unit/test_build_context.py holds the
others, with the fsutil results.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from docker_client import docker

from components.build_specs import IMAGE_BUILDS
from scripts.build_context import context_files, ignore_file_for

FILES = (
    "app.log", "keep.log", "sub/app.log", "build/out.js", "build/keep/deep/k.txt", "build/other/o.txt",
    "docs/guide.md", "docs/README.md", "docs/sub.txt", "pkg/node_modules/kept.js", "pkg/node_modules/drop.js",
    "pkg/node_modules/sub/x.js", "a/b/node_modules/x.js", "deep/x/y/z.tmp", "deep/t.tmp", "top.tmp",
    "cache/x", "cache/y", "vendor/lib/v.go", "src/a.py", "src/sub/b.py", "src/sub/c.pyc", "src/space .txt",
    "rooted/r.txt", "sub/rooted/r.txt", "fileA", "fileB", "fileC", "aXYb", "aX/b", "ab", "#hash", "Dockerfile",
    "notes.txt", "star*name", "starXname", "x/q.txt", ".env", ".cache/c",
)

TRICKY = "\n".join([
    "\ufeff# a comment (after a byte order mark): not a pattern",
    "*.log",              # the context's root only, unlike .gitignore
    "!keep.log",
    "**/*.tmp",           # at any depth, the root too
    "build/",             # a directory, and all below it
    "!build/keep/**",     # back from inside an excluded directory
    "/rooted",            # a leading / is the context's root
    "docs/*.md",
    "!docs/README.md",
    "**/node_modules",    # directories at any depth
    "!pkg/node_modules/kept.js",
    "cache",
    "!cache/x",
    "vendor/**",
    "src/**/*.pyc",       # `**/` is zero or more directories
    "file[AB]",
    "a**b",               # `**` inside a name spans directories: aX/b and ab, not aXYb
    "   notes.txt   ",    # surrounding space is trimmed
    " #hash",             # only a line that starts with # is a comment
    "star\\*name",        # an escaped * is a literal *
    "./docs/../Dockerfile",  # cleaned as a path
    ".*",
    "!.env",
    "linkdir",            # a link to a directory is one entry
    "",
])


def _build_sees(context: Path, work: Path, ignore_text: str | None = None) -> list[str]:
    """The files (and links) a build of `context` gets, exported from the engine."""
    dockerfile_dir = work / "dockerfile"
    dockerfile_dir.mkdir(parents=True)
    (dockerfile_dir / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    if ignore_text is not None:  # BuildKit's `<Dockerfile>.dockerignore`, which takes precedence
        (dockerfile_dir / "Dockerfile.dockerignore").write_text(ignore_text)
    out = work / "out"
    docker("build", "--quiet", "--network", "host", "--file", str(dockerfile_dir / "Dockerfile"),
           "--output", f"type=local,dest={out}", str(context), timeout=300)
    root = out / "ctx"
    seen = []
    for directory, subdirs, names in os.walk(root):
        links = [d for d in subdirs if os.path.islink(os.path.join(directory, d))]
        seen.extend(Path(directory, name).relative_to(root).as_posix() for name in [*names, *links])
    return sorted(seen)


def test_a_tricky_dockerignore_selects_what_buildkit_sends(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for name in FILES:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    os.symlink("src/a.py", context / "link.py")
    os.symlink("src", context / "linkdir")
    (context / ".dockerignore").write_text(TRICKY)
    selected = context_files(context)
    assert "keep.log" in selected and "app.log" not in selected and "linkdir" not in selected  # the file was read
    assert _build_sees(context, tmp_path / "work") == selected


@pytest.mark.parametrize("name", sorted({spec.context: name for name, spec in IMAGE_BUILDS.items()}.values()))
def test_each_image_context_is_what_buildkit_sends(tmp_path: Path, name: str) -> None:
    """What synth's stand-in digest hashes for an image is the context its build gets."""
    spec = IMAGE_BUILDS[name]
    context, ignore_file = spec.context_path(), ignore_file_for(spec.context_path(), spec.dockerfile_path())
    selected = context_files(context, ignore_file)
    assert selected, f"{spec.context}: no file selected"
    assert _build_sees(context, tmp_path, ignore_file.read_text()) == selected
