"""Imports go one way: the product never imports the test machinery (issue 13).

The product is the Pulumi program (`__main__.py`, `components/`), its guardrails (`policy/`),
its own commands (`scripts/`) and the apps (`apps/`). The test machinery is `tests/`, the
benchmarks (`bench/`) and this machine's tools (`tools/`: the stand-in base forge, the Docker
engine and system packages, the local clusters). Tests, benchmarks and tools may import the
product; the product may *run* a tool as a command (`scripts/stack.sh` starts the local control
plane, `scripts/build_images.py` runs the stand-in forge) but never imports one.

Each product file is parsed with `ast`, in a fresh Python process (CPython 3.11's AST converter keeps
its recursion counter per interpreter, python/cpython#106905: a thread of this process formatting a
traceback at the same moment, which parses source too, made `ast.parse` here fail with "AST
constructor recursion depth mismatch"): `import x`, `from x import y`, relative imports and
`importlib.import_module("x")` / `__import__("x")` with a literal name. An import is refused
when it names `tests`, `bench` or `tools`, when a relative import lands in one of them, or when
it names, without a package, a module that exists only in the test machinery (the way
`import forge_bases` would work once someone puts `tools/standins` on `sys.path`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.synth import REPO_ROOT

PRODUCT = ("__main__.py", "components", "policy", "scripts", "apps")
MACHINERY = ("tests", "bench", "tools")
# Where the product's absolute imports are looked up: the repository (components, scripts.synth),
# scripts/ (its commands put it on sys.path: `import build_images`), the backend app's root.
SEARCH_ROOTS = (REPO_ROOT, REPO_ROOT / "scripts", REPO_ROOT / "apps" / "backend")
SKIP_DIRS = {"__pycache__", "node_modules", "venv", ".venv", "build", "dist"}


def python_files(*tops: str) -> Iterator[Path]:
    for top in tops:
        path = REPO_ROOT / top
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*.py")):
            if not SKIP_DIRS & set(found.relative_to(REPO_ROOT).parts):
                yield found


def _module_names(top: Path) -> set[str]:
    """Top-level names importable from directory `top`: its .py files and its directories."""
    if not top.is_dir():
        return set()
    return {p.stem for p in top.glob("*.py")} | {p.name for p in top.iterdir() if p.is_dir()}


PRODUCT_NAMES = set().union(*(_module_names(root) for root in SEARCH_ROOTS)) - set(MACHINERY)


def _machinery_names() -> set[str]:
    """Modules and packages that live in the test machinery only: `import harness`, `import forge_bases`."""
    names: set[str] = set()
    for path in python_files(*MACHINERY):
        below_top = path.relative_to(REPO_ROOT).with_suffix("").parts[1:]  # e.g. ("standins", "forge_bases")
        names.update(part for part in below_top if part.isidentifier() and part != "__init__")
    return names - PRODUCT_NAMES - set(sys.stdlib_module_names)


MACHINERY_NAMES = _machinery_names()


def _in_machinery(path: Path) -> bool:
    return any(path.resolve().is_relative_to(REPO_ROOT / top) for top in MACHINERY)


# Run in a fresh interpreter: reads [[path, source], ...] as JSON, prints each file's imports as
# [[line, module as written, level], ...] (level: the dots of a relative import).
_READ_IMPORTS = """
import ast, json, sys
def imports(source, path):
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", node.level
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \\
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value, 0
print(json.dumps([list(imports(source, path)) for path, source in json.load(sys.stdin)]))
"""


def _read_imports(files: list[tuple[str, Path]]) -> list[list[tuple[int, str, int]]]:
    """For each (source, path): its imports, read by `ast` in a process of its own."""
    proc = subprocess.run([sys.executable, "-I", "-c", _READ_IMPORTS], capture_output=True, text=True, timeout=120,
                          input=json.dumps([[str(path), source] for source, path in files]), check=False)
    if proc.returncode != 0:
        raise AssertionError(f"reading the imports failed: {proc.stderr.strip()}")
    return [[(line, module, level) for line, module, level in found] for found in json.loads(proc.stdout)]


def _imported(found: list[tuple[int, str, int]], path: Path) -> Iterator[tuple[int, str, Path | None]]:
    """(line, module as written, where a relative import lands) for every import found in `path`."""
    for line, module, level in found:
        if level:
            base = path.parent
            for _ in range(level - 1):
                base = base.parent
            target = base.joinpath(*module.split(".")) if module else base
            yield line, "." * level + module, target
        else:
            yield line, module, None


def forbidden_imports(source: str, path: Path) -> list[str]:
    """`file:line: import` for each import of the test machinery in a product file's source."""
    return forbidden_in([(source, path)])


def forbidden_in(files: list[tuple[str, Path]]) -> list[str]:
    """`file:line: import` for each import of the test machinery in the (source, path) given."""
    found = []
    for (_, path), imports in zip(files, _read_imports(files)):
        found += _forbidden(imports, path)
    return found


def _forbidden(imports: list[tuple[int, str, int]], path: Path) -> list[str]:
    found = []
    for line, module, lands in _imported(imports, path):
        top = module.split(".")[0]
        if lands is not None:
            refused = _in_machinery(lands)
        else:
            refused = top in MACHINERY or top in MACHINERY_NAMES
        if refused:
            where = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            found.append(f"{where}:{line}: {module}")
    return found


def test_the_product_never_imports_tests_bench_or_tools() -> None:
    found = forbidden_in([(path.read_text(), path) for path in python_files(*PRODUCT)])
    assert found == [], (
        "product code imports the test machinery (tests/, bench/, tools/); move what it needs into "
        "the product, or run the tool as a command:\n  " + "\n  ".join(found)
    )


def test_the_check_reads_the_whole_product() -> None:
    scanned = {p.relative_to(REPO_ROOT).as_posix() for p in python_files(*PRODUCT)}
    for expected in ("__main__.py", "components/build_specs.py", "policy/rules.py", "scripts/synth.py",
                     "scripts/build_images.py", "apps/backend/mbhealth/api/app.py"):
        assert expected in scanned
    assert not any(_in_machinery(REPO_ROOT / p) for p in scanned)
    # The flat names that only the machinery's sys.path makes importable are known to the check.
    assert {"forge_bases", "harness", "engine", "services"} <= MACHINERY_NAMES


@pytest.mark.parametrize("source", [
    "import tests.images.harness",
    "from tests.support.services import PostgresServer",
    "from tests import support",
    "import bench.images",
    "from bench import reliability",
    "from tools.standins import forge_bases",
    "import forge_bases",
    "from forge_bases import forge",
    "import importlib\nimportlib.import_module('tests.e2e.reliability')",
    "def later():\n    from tests.e2e import engine",
    "from ..tests.images import harness",
])
def test_the_check_refuses_an_import_of_the_machinery(source: str) -> None:
    path = REPO_ROOT / "scripts" / "example.py"
    assert forbidden_imports(source, path), source


@pytest.mark.parametrize("source", [
    "import json",
    "from components.build_specs import IMAGE_BUILDS",
    "from scripts.synth import synthesize",
    "import build_images",
    "from docker_client import docker",
    "from . import synth",
    "import pulumi_kubernetes as k8s",
])
def test_the_check_allows_the_product_and_libraries(source: str) -> None:
    path = REPO_ROOT / "scripts" / "example.py"
    assert forbidden_imports(source, path) == [], source
