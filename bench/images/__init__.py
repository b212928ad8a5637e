"""Benchmark the app images: build times and sizes -> bench/images.md.

    python -m bench.images [--runs 5] [--out bench/images.md]

What it measures, on the local Docker engine and registry (tools/machine/docker-engine.sh) with
the offline stand-in bases (tools/standins/forge_bases.py):

- cold build: each spec's deployed target after `docker builder prune --all` (no layer
  cache and no pip/npm download cache, as on a fresh CI runner; the base images stay
  local), and again with `--no-cache` right after (no layer cache, but the download
  caches, which are BuildKit cache mounts, are warm);
- rebuild after a one-line code change: the context is copied to a temporary directory,
  one line is added to one source file there (never in the repository), and the image is
  built from the copy with the layer cache. The dependency steps must come from the cache,
  otherwise the script stops: the figure would not mean what it says;
- sizes from the engine (uncompressed) and from the registry manifests (compressed, as
  pushed), the part above the base image, the worker's bytes not shared with the backend,
  production vs development.

The pods' start-to-ready and stop times are measured on the real node, where they run
(`make bench-e2e`: bench/e2e.md).

Every build goes through scripts/build_images.py from components/build_specs.py: the
context, Dockerfile, target and build args are the spec's, nothing is repeated here.
Medians of several runs, with min and max; a ratio is taken within each run, then the
median of those ratios is reported.

Run it alone on the engine: it empties the engine's build cache before each cold build, and
its `--no-cache` builds write new cache records for the same steps, so an image suite
building at the same time may get a different (equivalent) layer for one target than for
another (e.g. `test_worker_target_adds_no_layers` then fails).

The package: __main__.py (the command), builds.py (build times), buildkit_log.py (which steps ran
or came from the cache), sizes.py (image sizes), report.py (bench/images.md), budgets.py (issues 4 and 6).
"""

from __future__ import annotations

import sys
from pathlib import Path

# build_images, docker_client and forge_bases are imported by their flat names, as their suites do.
REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT, REPO_ROOT / "scripts", REPO_ROOT / "tools" / "standins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
