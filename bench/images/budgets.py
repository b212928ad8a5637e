"""The image budgets the benchmark checks (issues 4 and 6; README "Image benchmarks" states them too)."""

MB = 1_000_000  # decimal megabytes, as the docker CLI prints them

REBUILD_MAX_RATIO = 0.15  # rebuild time / cold build time
WORKER_UNSHARED_MAX = 1 * MB  # worker layer bytes not in the backend image
ABOVE_BASE_MAX = {"backend": 90 * MB, "frontend": 2 * MB}  # layers above the base image
PROD_DEV_MAX_RATIO = 0.25  # production image size / development image size
VARIANT_MIN_SAVING = 0.35  # issue 6: the distroless backend vs the slim production image
