"""A build context as BuildKit and pulumi-docker select it: the files left after the ignore file.

Hand-written: no Python library reads .dockerignore as BuildKit does (docker-py: the legacy rules; pathspec: gitignore's).

A port of what pulumi-docker 5.2's hashContext and current BuildKit run (read from their Go source):
moby/patternmatcher v0.6 (`ignorefile.ReadAll`, `Pattern.compile`/`match`, `MatchesUsingParentResults`)
under tonistiigi/fsutil's filtered walk. In short: one pattern a line, a line starting with `#` is a
comment, surrounding space is trimmed, a pattern is cleaned as a path and a leading `/` dropped; `*` and
`?` stop at `/`, `**` spans directories; a pattern matching a parent directory matches what is inside
it; the last matching pattern wins and `!` re-includes. docker-py's `PatternMatcher` (docker 7.2) keeps
`.dockerignore` always, reads `\\` literally and ` #x` as a comment (not what the engine's builds get),
and matches a parent directory only at the pattern's own depth, as the legacy rules did (not what
pulumi-docker hashes).
tests/images/test_build_context.py compares `context_files` with what the engine's build receives;
tests/unit/test_build_context.py holds the cases where that engine's older BuildKit and fsutil differ.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# Characters that make an exclusion (`!pattern`) more than a path prefix (fsutil's patternChars).
_PATTERN_CHARS = set("*[]?^\\")
# Characters patternmatcher escapes for its regexp (they mean nothing in a Go filepath pattern).
_REGEXP_ESCAPED = set(".+()|{}$")


@dataclass(frozen=True)
class Pattern:
    """One ignore-file pattern, cleaned, with patternmatcher's match type (exact, prefix, suffix, regexp)."""

    text: str
    exclusion: bool
    kind: str
    regexp: Optional[re.Pattern[str]] = None

    @classmethod
    def compile(cls, text: str, exclusion: bool = False) -> "Pattern":
        """patternmatcher's Pattern.compile: plain text is an exact match, `dir/**` a prefix, `**/name` a
        suffix; anything else (a `*`, `?`, `[...]`, `\\`, a `**` inside) a regexp."""
        out, kind, i, step = "^", "exact", 0, 0
        while i < len(text):
            ch = text[i]
            i += 1
            if ch == "*" and text.startswith("*", i):
                i += 1
                if text.startswith("/", i):
                    i += 1
                if i >= len(text):
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out, kind = out + ".*", "regexp"
                else:
                    out, kind = out + "(.*/)?", "regexp"
                if step == 0:
                    kind = "suffix"
            elif ch == "*":
                out, kind = out + "[^/]*", "regexp"
            elif ch == "?":
                out, kind = out + "[^/]", "regexp"
            elif ch in _REGEXP_ESCAPED:
                out += "\\" + ch
            elif ch == "\\":
                if i < len(text):
                    out, kind, i = out + re.escape(text[i]), "regexp", i + 1
                else:
                    out += "\\\\"
            elif ch == "[":
                end = text.find("]", i)
                if end == -1:  # Go refuses the pattern; an unclosed bracket here is a literal
                    out += "\\["
                else:
                    out, kind, i = out + "[" + text[i:end] + "]", "regexp", end + 1
            elif ch == "]":
                out += "\\]"
            else:
                out += re.escape(ch)
            step += 1
        return cls(text, exclusion, kind, re.compile(out + "$") if kind == "regexp" else None)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None

    def prefix(self) -> str:
        """fsutil's patternWithoutTrailingGlob: the pattern without a trailing `/**` or `/*`."""
        text = self.text.removesuffix("/**")
        return text.removesuffix("/*")


def read_patterns(text: str) -> list[Pattern]:
    """ignorefile.ReadAll, then patternmatcher.New: the patterns of an ignore file, in order."""
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        line = line.strip()
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if not line:
            continue  # patternmatcher refuses a bare `!`; nothing to match either way
        line = os.path.normpath(line)
        if len(line) > 1 and line.startswith("/"):
            line = line.lstrip("/")  # Go's Clean leaves one leading `/`, which ReadAll drops
        patterns.append(Pattern.compile(line, exclusion))
    return patterns


class DockerIgnore:
    """An ignore file's patterns: what they exclude, and which directories a walk may skip whole."""

    def __init__(self, text: str):
        self.patterns = read_patterns(text)
        exclusions = [p for p in self.patterns if p.exclusion]
        # fsutil skips an excluded directory only when every exclusion is a plain path (prefix).
        self.prefix_exclusions = [p.prefix() for p in exclusions]
        self.may_skip = not any(_PATTERN_CHARS & set(prefix) for prefix in self.prefix_exclusions)

    def matches(self, relative: str, parent: Optional[list[bool]] = None) -> tuple[bool, list[bool]]:
        """patternmatcher's MatchesUsingParentResults: (excluded?, which patterns matched) for a path,
        given its parent directory's result (None: the parents are matched here, as MatchesOrParentMatches)."""
        excluded, matched = False, [False] * len(self.patterns)
        for index, pattern in enumerate(self.patterns):
            match = parent[index] if parent else False
            if not match:
                if pattern.exclusion != excluded:
                    continue  # cannot change the verdict (and is not recorded as matched)
                match = pattern.match(relative)
                if not match and not parent:
                    parts = relative.split("/")[:-1]
                    match = any(pattern.match("/".join(parts[: i + 1])) for i in range(len(parts)))
            matched[index] = match
            if match:
                excluded = not pattern.exclusion
        return excluded, matched

    def excluded(self, relative: str) -> bool:
        return self.matches(relative)[0]

    def skips(self, directory: str) -> bool:
        """May the walk skip this excluded directory whole (no exclusion could re-include below it)?"""
        if not self.may_skip:
            return False
        return not any((prefix + "/").startswith(directory + "/") for prefix in self.prefix_exclusions)


def context_files(context: Path, ignore_file: Optional[Path] = None) -> list[str]:
    """The build context's files (relative, sorted) after the ignore file, as BuildKit sends them and
    pulumi-docker hashes them: fsutil's walk, each entry matched with its parent directory's results.

    A symbolic link is one entry (to a directory too): neither BuildKit nor pulumi-docker follows it.
    `ignore_file`: the ignore file that applies (default: the context's `.dockerignore`)."""
    ignore_file = ignore_file or context / ".dockerignore"
    ignore = DockerIgnore(ignore_file.read_text() if ignore_file.exists() else "")
    files: list[str] = []

    def walk(directory: Path, base: str, parent: Optional[list[bool]]) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            relative = f"{base}{entry.name}"
            excluded, matched = ignore.matches(relative, parent)
            if entry.is_dir(follow_symlinks=False):
                if not (excluded and ignore.skips(relative)):
                    walk(Path(entry.path), relative + "/", matched)
            elif not excluded:
                files.append(relative)

    walk(context, "", None)
    return sorted(files)


def ignore_file_for(context: Path, dockerfile: Path) -> Path:
    """The ignore file pulumi-docker (and BuildKit) applies: `<Dockerfile>.dockerignore` when there is
    one, else the context's `.dockerignore`."""
    specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return specific if specific.is_file() else context / ".dockerignore"

