"""MBHealth backend: a FastAPI service and the Celery worker that share one code base."""

import os

# Set by the image (`ARG VERSION` -> `ENV MBHEALTH_VERSION`); "dev" outside an image.
__version__ = os.environ.get("MBHEALTH_VERSION", "dev")
