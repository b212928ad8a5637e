"""The build context synth hashes (scripts/build_context.py): how ignore-file lines read, and the contexts
where Docker 20.10's BuildKit (the engine of tests/images) and the fsutil walk that pulumi-docker 5.2
hashes (and current BuildKit sends) disagree: `context_files` follows fsutil.

Each expected list is what fsutil's Walk (github.com/tonistiigi/fsutil v0.0.0-20250605211040-586307ad452f,
with github.com/moby/patternmatcher v0.6.0's ignorefile.ReadAll: pulumi-docker 5.2's go.mod) printed
for the same files and ignore file; tests/images/test_build_context.py checks the cases both agree on
against the engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.build_context import DockerIgnore, context_files

CASES = {
    # A `!` below keeps the walk going: each file is then matched with all its parent directories,
    # not (as the legacy rules did) only with the one at the pattern's depth.
    "parent-at-any-depth": (
        "**/node_modules\n!a/b/node_modules/kept.js\n",
        ["a/b/node_modules/kept.js", "a/b/node_modules/x.js", "a/b/ok.js", "top.js"],
        ["a/b/node_modules/kept.js", "a/b/ok.js", "top.js"],
    ),
    # An exclusion with a wildcard means no excluded directory is skipped whole.
    "wildcard-exclusion-walks-everything": (
        "**\n!**/*.py\n!x/**/w.txt\n",
        ["src/a.py", "src/sub/b.py", "src/c.txt", "x/y/z/w.txt", "x/q.txt"],
        ["src/a.py", "src/sub/b.py", "x/y/z/w.txt"],
    ),
    # `**name` (nothing special after it) is a suffix match: `xab` too; with a wildcard after it,
    # `**le?` is `(.*/)?le.`: not `file1`.
    "leading-doublestar-is-a-suffix": (
        "**ab\n**le?\n",
        ["ab", "xab", "a/xab", "file1", "abc", "d/le1"],
        ["abc", "file1"],
    ),
    # patternmatcher's MatchesUsingParentResults: a directory pattern skipped because the path was
    # already excluded is not carried to the files below it, so `a/b` does not exclude `a/b/c/d.txt`
    # once `!a/b/c` re-included it.
    "parent-results-carry-only-what-was-matched": (
        "a\n!a/b/c\na/b\n",
        ["a/b/c/d.txt", "a/b/e.txt", "a/f.txt", "g.txt"],
        ["a/b/c/d.txt", "g.txt"],
    ),
}


def _context(root: Path, ignore: str, files: list[str]) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    (root / ".dockerignore").write_text(ignore)
    return root


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_context_is_what_fsutil_walks(tmp_path: Path, case: str) -> None:
    ignore, files, expected = CASES[case]
    selected = [name for name in context_files(_context(tmp_path, ignore, files)) if name != ".dockerignore"]
    assert selected == expected


def test_an_excluded_directory_is_skipped_whole_only_when_no_exclusion_reaches_below_it() -> None:
    ignore = DockerIgnore("node_modules\nbuild\n!build/keep/**\n")
    assert ignore.skips("node_modules") and ignore.skips("build/other")
    assert not ignore.skips("build") and not ignore.skips("build/keep")
    assert not DockerIgnore("node_modules\n!src/*.py\n").skips("node_modules")  # a wildcard exclusion walks all


def test_ignore_file_lines_read_as_patternmatcher_reads_them() -> None:
    ignore = DockerIgnore("\n".join([
        "\ufeff*.log",         # a byte order mark before the first line is dropped
        " # not a comment",    # only a line that starts with # is a comment
        "# a comment",
        "/build/",
        "//deep",
        "docs/../notes.txt",
        "a**b",                # `**` inside a name spans directories, not characters
        "star\\*name",
        "file[AB]",
        "src/**",
    ]))
    excluded = ["a.log", "# not a comment", "build/x", "deep/x", "notes.txt", "aX/b", "ab", "star*name", "fileA",
                "src/a/b.py"]
    kept = ["# a comment", "x/a.log", "aXYb", "starXname", "fileC", "srcx"]
    assert [path for path in excluded if not ignore.excluded(path)] == []
    assert [path for path in kept if ignore.excluded(path)] == []
