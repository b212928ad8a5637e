"""One stand-in forge at a time (tools/standins/forge_machine.py): two test sessions side by side, or a
`make up` beside a test run, would otherwise debootstrap into the same cache and build the same tags."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

STANDINS = Path(__file__).resolve().parents[2] / "tools" / "standins"

HOLD = """
import sys, time
sys.path.insert(0, {standins!r})
import forge_machine
with forge_machine.forge_lock():
    with forge_machine.forge_lock():  # re-entrant: forge_bases inside data_services
        print("held", flush=True)
        time.sleep({seconds})
    print("still held", flush=True)
    time.sleep(0.2)
"""


def _holder(cache: Path, seconds: float) -> subprocess.Popen:
    script = HOLD.format(standins=str(STANDINS), seconds=seconds)
    return subprocess.Popen([sys.executable, "-c", script], env={"MBH_BASES_CACHE": str(cache), "PATH": "/usr/bin:/bin"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_forge_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    first = _holder(tmp_path, 1.5)
    try:
        assert first.stdout.readline().strip() == "held"
        started = time.monotonic()
        second = _holder(tmp_path, 0)
        out, err = second.communicate(timeout=30)
        waited = time.monotonic() - started
    finally:
        first.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out.split() == ["held", "still", "held"]
    assert "forge-bases: another forge is at work on this machine; waiting for it" in err
    assert waited >= 1.0, f"the second forge ran while the first held the lock ({waited:.2f}s)"


def test_a_forge_alone_does_not_wait(tmp_path: Path) -> None:
    alone = _holder(tmp_path, 0)
    out, err = alone.communicate(timeout=30)
    assert alone.returncode == 0 and out.split() == ["held", "still", "held"]
    assert "waiting" not in err
