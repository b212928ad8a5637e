"""Imports go one way: the product never imports the test machinery (issue 13).

The product is the Pulumi program (`__main__.py`, `components/`), its guardrails (`policy/`),
its own commands (`scripts/`) and the apps (`apps/`). The test machinery is `tests/`, the
benchmarks (`bench/`) and this machine's tools (`tools/`: the stand-in base forge, the Docker
engine and system packages, the local clusters). Tests, benchmarks and tools may import the
product; the product may *run* a tool as a command (`scripts/stack.sh` starts the local control
plane, `scripts/build_images.py` runs the stand-in forge) but never imports one.

Each product file is parsed with `ast`: `import x`, `from x import y`, relative imports and
`importlib.import_module("x")` / `__import__("x")` with a literal name. An import is refused
when it names `tests`, `bench` or `tools`, when a relative import lands in one of them, or when
it names, without a package, a module that exists only in the test machinery (the way
`import forge_bases` would work once someone puts `tools/standins` on `sys.path`).
"""

from __future__ import annotations

import ast
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


def _imported(tree: ast.AST, path: Path) -> Iterator[tuple[int, str, Path | None]]:
    """(line, module as written, where a relative import lands) for every import in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                module = node.module or ""
                target = base.joinpath(*module.split(".")) if module else base
                yield node.lineno, "." * node.level + module, target
            else:
                yield node.lineno, node.module or "", None
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value, None


def forbidden_imports(source: str, path: Path) -> list[str]:
    """`file:line: import` for each import of the test machinery in a product file's source."""
    found = []
    for line, module, lands in _imported(ast.parse(source, filename=str(path)), path):
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
    found = [hit for path in python_files(*PRODUCT) for hit in forbidden_imports(path.read_text(), path)]
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
    assert {"forge_bases", "harness", "kubelet", "services"} <= MACHINERY_NAMES


@pytest.mark.parametrize("source", [
    "import tests.images.harness",
    "from tests.support.services import PostgresServer",
    "from tests import support",
    "import bench.images",
    "from bench import reliability",
    "from tools.standins import forge_bases",
    "import forge_bases",
    "from forge_bases import forge",
    "import importlib\nimportlib.import_module('tests.images.kubelet')",
    "def later():\n    from tests.images import rollout",
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
