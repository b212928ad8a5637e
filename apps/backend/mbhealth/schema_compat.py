"""Expand/contract migrations: which release's code may run on which schema.

Every migration module declares ``compatible_since``: the oldest revision whose *code*
still works on the schema the migration leaves behind.

* An **expand** migration (add a table, a nullable column or one with a server default, an
  index) keeps older code working: ``compatible_since`` is its parent's revision, or an
  older one.
* A **contract** migration (drop or rename something older code reads or writes, add a
  constraint older code would break) does not: ``compatible_since`` is the migration itself.

Along the chain ``compatible_since`` never moves backwards (a schema cannot become
compatible again with code that an earlier migration already excluded).

``python -m mbhealth migrate`` records, in the same transaction as the migrations, one row
per revision of its chain in the ``schema_compatibility`` table. A rollback deploys older
images, whose migrate Job has never seen the newer revisions; the database itself tells it
whether it may run on the newer schema:

* the database is at a revision this release knows -> the usual ``alembic upgrade``;
* at a newer revision whose recorded ``compatible_since`` is this release's head or older
  (and the database was migrated through this release's head) -> nothing is changed, one
  log line says so, exit 0: the rollback proceeds to the Deployments;
* anything else (a contract revision, no record, another lineage) -> :class:`IncompatibleSchema`:
  the Job fails, ``pulumi up`` stops before the Deployments, the newer release keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.dialects.postgresql import insert as pg_insert

TABLE = "schema_compatibility"
ATTRIBUTE = "compatible_since"

_TABLE = sa.Table(
    TABLE,
    sa.MetaData(),
    sa.Column("revision", sa.String(32), primary_key=True),
    sa.Column(ATTRIBUTE, sa.String(32), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)


class IncompatibleSchema(Exception):
    """The database's schema is newer than this release and not declared compatible with it."""

    def __init__(self, message: str, *, database_revision: str, release_head: str | None) -> None:
        super().__init__(message)
        self.database_revision = database_revision
        self.release_head = release_head


class MigrationDeclarationError(Exception):
    """A migration module's ``compatible_since`` is missing or impossible (a developer error)."""


@dataclass(frozen=True)
class NewerCompatibleSchema:
    """The database is ahead of this release, on a schema declared compatible with its code."""

    database_revision: str
    release_head: str
    compatible_since: str

    @property
    def message(self) -> str:
        return (
            f"database schema is at revision {self.database_revision}, newer than this release "
            f"(head {self.release_head}); {self.database_revision} declares code from revision "
            f"{self.compatible_since} on compatible, so the schema is left as it is"
        )


def knows(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except (RevisionError, CommandError):
        return False


def lineage(script: ScriptDirectory, revision: str) -> list[str]:
    """``revision`` and its ancestors, newest first."""
    return [r.revision for r in script.iterate_revisions(revision, "base")]


def declared_since(script: ScriptDirectory, revision: str) -> str:
    module = script.get_revision(revision).module
    since = getattr(module, ATTRIBUTE, None)
    if not isinstance(since, str) or not since:
        raise MigrationDeclarationError(
            f"migration {revision} ({module.__file__}) must declare {ATTRIBUTE} = '<revision>': the oldest "
            "revision whose code still works on the schema it leaves (its parent for an expand migration, "
            "itself for a contract migration); see mbhealth/schema_compat.py"
        )
    return since


def chain_declarations(script: ScriptDirectory) -> dict[str, str]:
    """{revision: compatible_since} for this release's chain, validated; raises MigrationDeclarationError."""
    head = script.get_current_head()
    if head is None:
        return {}
    chain = lineage(script, head)
    declared = {revision: declared_since(script, revision) for revision in chain}
    previous: str | None = None
    for revision in reversed(chain):  # oldest first
        since = declared[revision]
        ancestors = lineage(script, revision)
        if since not in ancestors:
            raise MigrationDeclarationError(
                f"migration {revision}: {ATTRIBUTE} = {since!r} is not {revision} or one of its ancestors"
            )
        if previous is not None and previous not in lineage(script, since):
            raise MigrationDeclarationError(
                f"migration {revision}: {ATTRIBUTE} = {since!r} is older than its parent's ({previous!r}); "
                "a schema cannot become compatible again with code an earlier migration excluded"
            )
        previous = since
    return declared


def _recorded(connection: sa.Connection) -> dict[str, str]:
    if not sa.inspect(connection).has_table(TABLE):
        return {}
    rows = connection.execute(sa.select(_TABLE.c.revision, _TABLE.c[ATTRIBUTE]))
    return {revision: since for revision, since in rows}


def check(connection: sa.Connection, script: ScriptDirectory, current_heads: tuple[str, ...]) -> NewerCompatibleSchema | None:
    """None when every current head of the database is known to this release (migrate as usual);
    a NewerCompatibleSchema when the database is ahead but declared compatible; else raises."""
    unknown = [h for h in current_heads if not knows(script, h)]
    if not unknown:
        return None
    head = script.get_current_head()
    recorded = _recorded(connection)
    if len(current_heads) != 1 or head is None:
        raise IncompatibleSchema(
            f"database schema is at {', '.join(current_heads)}, unknown to this release (head {head}); "
            "only a single linear history can be checked for compatibility",
            database_revision=",".join(current_heads), release_head=head,
        )
    (revision,) = unknown
    since = recorded.get(revision)
    fix = (f"downgrade the schema first with the newer release's image "
           f"(`python -m mbhealth migrate --downgrade {head}`) or restore a backup taken at {head}, "
           f"or deploy a release whose head is {since or revision} or later")
    if since is None:
        raise IncompatibleSchema(
            f"database schema is at revision {revision}, unknown to this release (head {head}), and the "
            f"database records no compatibility for it ({TABLE}): refusing to run older code on it; {fix}",
            database_revision=revision, release_head=head,
        )
    if not knows(script, since) or since not in lineage(script, head):
        raise IncompatibleSchema(
            f"database schema is at revision {revision}, newer than this release (head {head}), and "
            f"{revision} needs code from revision {since} on (a contract migration): this release cannot "
            f"run on it; {fix}",
            database_revision=revision, release_head=head,
        )
    if head not in recorded:
        raise IncompatibleSchema(
            f"database schema is at revision {revision}, which was not migrated through this release's "
            f"head {head} (another lineage): refusing to run this release on it; {fix}",
            database_revision=revision, release_head=head,
        )
    return NewerCompatibleSchema(database_revision=revision, release_head=head, compatible_since=since)


def record(connection: sa.Connection, script: ScriptDirectory) -> dict[str, str]:
    """Upsert {revision: compatible_since} of this release's whole chain (in the caller's transaction)."""
    declared = chain_declarations(script)
    _TABLE.create(connection, checkfirst=True)
    if declared:
        stmt = pg_insert(_TABLE).values(
            [{"revision": r, ATTRIBUTE: s} for r, s in declared.items()]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.revision], set_={ATTRIBUTE: stmt.excluded[ATTRIBUTE], "recorded_at": sa.func.now()}
        )
        connection.execute(stmt)
    return declared
