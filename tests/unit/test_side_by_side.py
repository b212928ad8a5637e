"""`make test`'s two sessions side by side (tools/suites/side_by_side.py), run on small suites of
their own: each line named by its session, the exit code, and a leak-guard mark per session."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "suites" / "side_by_side.py"


def _runner():
    spec = importlib.util.spec_from_file_location("side_by_side", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("side_by_side", module)
    spec.loader.exec_module(module)
    return module


SUITE = '''
import os
from pathlib import Path

def test_{name}():
    Path({marks!r}, "{name}.mark").write_text(os.environ["MBH_TEST_SESSION"])
    assert {passes}
'''


def _suite(root: Path, name: str, passes: bool = True) -> list[str]:
    folder = root / name
    folder.mkdir()
    (folder / f"test_{name}.py").write_text(SUITE.format(name=name, marks=str(root), passes=passes))
    return ["-p", "no:cacheprovider", "-q", str(folder)]


def test_both_pass_each_line_names_its_session_and_each_has_its_own_mark(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MBH_TEST_SESSION", "outer")
    code = _runner().run([], {"slow": _suite(tmp_path, "slow"), "quick": _suite(tmp_path, "quick")})
    out = capsys.readouterr().out
    assert code == 0, out
    body = [line for line in out.splitlines() if "|" in line]
    assert any(line.startswith(" slow | ") and "1 passed" in line for line in body), out
    assert any(line.startswith("quick | ") and "1 passed" in line for line in body), out
    assert "  slow: exit 0 after" in out and " quick: exit 0 after" in out
    marks = {name: (tmp_path / f"{name}.mark").read_text() for name in ("slow", "quick")}
    assert marks == {"slow": "outer-slow", "quick": "outer-quick"}


def test_one_failing_session_fails_the_run_with_its_code(tmp_path, capsys):
    code = _runner().run([], {"good": _suite(tmp_path, "good"), "bad": _suite(tmp_path, "bad", passes=False)})
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.TESTS_FAILED, out
    assert "  bad: exit 1 after" in out and "1 failed" in out


def test_a_session_that_selects_nothing_counts_as_passing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = _runner().run([], {"some": _suite(tmp_path, "some"), "none": ["-p", "no:cacheprovider", str(tmp_path / "empty")]})
    assert code == 0, capsys.readouterr().out
    assert _runner().run([], {"none": ["-p", "no:cacheprovider", str(tmp_path / "empty")]}) == pytest.ExitCode.NO_TESTS_COLLECTED


def _collected(args: list[str]) -> list[str]:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *args],
                         cwd=root, capture_output=True, text=True, timeout=300, env={**os.environ, "MBH_REQUIRE_ENGINE": ""})
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_make_test_runs_every_test_once():
    """The two sessions `make test` starts split the suite: no test left out, none run twice."""
    sessions = _runner().default_sessions()
    every = _collected(["tests"])
    split = [test for args in sessions.values() for test in _collected([a for a in args if a != "-v"])]
    assert len(every) > 1000
    assert sorted(split) == sorted(every)
    assert any(t.startswith("tests/e2e/test_make_up.py::") for t in _collected(sessions["suites"][1:]))
