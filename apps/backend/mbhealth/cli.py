"""Command line: `python -m mbhealth {serve,worker,migrate,probe,smoke}`.

Every long-running command validates the configuration before anything else; a
missing or malformed variable ends the process with exit code 78 (EX_CONFIG) and a
JSON log line naming the variable.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

EX_CONFIG = 78
# `migrate` on a database whose newer schema this release cannot run on (see schema_compat).
EX_INCOMPATIBLE_SCHEMA = 3
# `migrate`: a migration step the database refused (SQL it cannot run, a constraint the data breaks,
# an unknown revision): running it again cannot help. Logged as one CRITICAL line, no traceback; a
# database that stays away past MIGRATE_WAIT_SECONDS is exit 1 with the driver's traceback.
EX_MIGRATION_REFUSED = 4
# uvicorn's graceful-shutdown limit (s): in-flight requests get this long after SIGTERM.
GRACEFUL_SHUTDOWN_TIMEOUT = 15

log = logging.getLogger("mbhealth")


def _settings_or_exit():
    from mbhealth.config import ConfigError, get_settings
    from mbhealth.logs import configure_logging

    try:
        settings = get_settings()
    except ConfigError as exc:
        configure_logging("INFO")
        log.critical(str(exc), extra={"event": "config_error", "variables": exc.variables})
        sys.exit(EX_CONFIG)
    configure_logging(settings.log_level, settings.secret_values())
    return settings


def _exit_zero(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings_or_exit()
    # uvicorn installs its own SIGTERM/SIGINT handlers while it serves, shuts down
    # gracefully, restores the previous handlers and re-raises the signal. This one
    # turns that re-raised signal (or one that arrives before uvicorn is up) into exit 0.
    signal.signal(signal.SIGTERM, _exit_zero)
    signal.signal(signal.SIGINT, _exit_zero)
    log.info("starting API", extra={"port": settings.port, "environment": settings.environment})
    uvicorn.run(
        "mbhealth.api.app:create_app",
        factory=True,
        host="0.0.0.0",  # noqa: S104 - the container's only interface
        port=settings.port,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_TIMEOUT,
        reload=args.reload,
        reload_dirs=[__file__.rsplit("/", 1)[0]] if args.reload else None,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from mbhealth.config import ConfigError, get_worker_settings

    settings = _settings_or_exit()
    try:
        worker_settings = get_worker_settings()
    except ConfigError as exc:
        log.critical(str(exc), extra={"event": "config_error", "variables": exc.variables})
        return EX_CONFIG
    from mbhealth.worker import run_worker

    return run_worker(settings, worker_settings)


def cmd_migrate(args: argparse.Namespace) -> int:
    from mbhealth.migrate import IncompatibleSchema, MigrationRefused, downgrade, upgrade

    settings = _settings_or_exit()
    try:
        if args.downgrade:
            downgrade(settings, args.downgrade)
        else:
            upgrade(settings, args.revision)
    except IncompatibleSchema as exc:
        log.critical(
            str(exc),
            extra={"event": "migrate_incompatible_schema", "database_revision": exc.database_revision,
                   "release_head": exc.release_head},
        )
        return EX_INCOMPATIBLE_SCHEMA
    except MigrationRefused as exc:
        log.critical(str(exc), extra={"event": "migrate_refused", "error": exc.error})
        return EX_MIGRATION_REFUSED
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from mbhealth.config import ConfigError
    from mbhealth.probes import run_probe

    try:
        return run_probe(args.probe)
    except ConfigError as exc:
        print(f"{args.probe}: FAIL: {exc}", file=sys.stderr)
        return 1


def cmd_smoke(args: argparse.Namespace) -> int:
    from mbhealth.smoke import run_smoke

    return run_smoke(args.api, args.web, args.timeout)


def build_parser() -> argparse.ArgumentParser:
    from mbhealth.probes import PROBES

    parser = argparse.ArgumentParser(prog="python -m mbhealth", description="MBHealth backend")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the HTTP API on 0.0.0.0:$PORT (default 8000)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run the Celery worker (celery@<hostname>)").set_defaults(func=cmd_worker)
    migrate = sub.add_parser(
        "migrate", help="apply the database migrations (alembic upgrade; keeps a newer schema declared compatible)")
    migrate.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    migrate.add_argument(
        "--downgrade", metavar="REVISION",
        help="migrate down to REVISION instead; run it with the newer release's image before rolling back "
             f"past a contract migration (exit {EX_INCOMPATIBLE_SCHEMA} tells you when that is needed)")
    migrate.set_defaults(func=cmd_migrate)
    probe = sub.add_parser("probe", help="health probe for Kubernetes / HEALTHCHECK; exit 0 or 1")
    probe.add_argument("probe", choices=sorted(PROBES))
    probe.set_defaults(func=cmd_probe)
    smoke = sub.add_parser("smoke", help="post-deploy smoke test: API ready, frontend up, one task round-trip")
    smoke.add_argument("--api", required=True, help="backend base URL, e.g. http://backend:8000")
    smoke.add_argument("--web", help="frontend base URL; the task round-trip then goes through its /api proxy")
    smoke.add_argument("--timeout", type=float, default=120.0, help="seconds for all checks together (default 120)")
    smoke.set_defaults(func=cmd_smoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
