"""Benchmark: median offline synth time per stack and the unit-suite time -> bench/synth.md.

    python -m bench.synth [--runs 5]

Each synth runs in a fresh interpreter (as `make synth` does), so the figure
includes importing the Pulumi SDKs; the unit suite is timed end to end with
pytest. Medians of several runs; these machines are noisy.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "prod")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "synth.md")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            times = [timed([sys.executable, "scripts/synth.py", "--stack", stack, "--out", f"{tmp}/{stack}"])
                     for _ in range(args.runs)]
            rows.append((f"synth {stack} (fresh process)", times))
    suite = [timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"])
             for _ in range(max(3, args.runs // 2))]
    rows.append(("unit suite (tests/unit, pytest)", suite))

    lines = [
        "# Synth and unit-suite benchmark",
        "",
        f"Written by `make bench` (bench/synth.py) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores.",
        "",
        "| what | runs | median (s) | min (s) | max (s) |",
        "|---|---|---|---|---|",
    ]
    for name, times in rows:
        lines.append(f"| {name} | {len(times)} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
