"""`python -m bench.images [--runs 5] [--out bench/images.md]`: measure, then write the report (see __init__.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import docker_client
import forge_bases

import bench.images
from bench.images import REPO_ROOT
from bench.images.builds import bench_builds, log
from bench.images.report import other_containers, report
from bench.images.sizes import build_final, image_size, inspect_or_pull, unshared, variant_specs
from components.build_specs import IMAGE_BUILDS

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.images", description=bench.images.__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold/rebuild pairs per image (default %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "images.md")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    problem = docker_client.engine_problem() or docker_client.registry_problem()
    if problem:
        print(f"bench-images: {problem}", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_start, busy_start = f"{os.getloadavg()[0]:.2f}", other_containers()
    standins = forge_bases.forge()
    # The stand-ins the benchmarked specs use, sized now (a later forge may replace them).
    specs = [*IMAGE_BUILDS.values(), *(spec for _, _, spec in variant_specs().values())]
    used = sorted({real for spec in specs for real in spec.base_image_args.values()})
    base_sizes = {}
    for real in used:
        info = inspect_or_pull(standins[real])
        if info is None:
            raise SystemExit(f"bench-images: the stand-in for {real} ({standins[real]}) is not in the engine")
        base_sizes[real] = (standins[real], int(info["Size"]))

    log(f"builds: {args.runs} cold/rebuild pairs per image")
    builds = bench_builds(standins, args.runs)
    log("building and pushing every target for the size figures")
    built = build_final(standins)
    sizes = {key: image_size(b) for key, b in built.items()}
    worker = unshared(sizes["backend:worker"], sizes["backend"])

    text, budgets = report(
        runs=args.runs, builds=builds, sizes=sizes, worker=worker, standins=standins, base_sizes=base_sizes,
        seconds=time.monotonic() - started,
        load=(load_start, f"{os.getloadavg()[0]:.2f}"), busy=(busy_start, other_containers()),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    failed = [what for what, _, _, ok in budgets if not ok]
    log(f"wrote {args.out.relative_to(REPO_ROOT) if args.out.is_relative_to(REPO_ROOT) else args.out}; "
        f"budgets failed: {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
