"""Applying the Alembic migrations: the only way the schema is made, tests included.

Alembic itself is imported only to migrate: a serving worker reads the head from the migration files and
the database's revision with one query, and never loads it (ten megabytes of every worker's memory;
BENCHMARKS.md, "Memory").
"""

import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "alembic" / "versions"
_REVISION = re.compile(r"^revision(?:: str)? = ['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


def alembic_config() -> "Config":
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str | None:
    """The newest migration's revision: the one no other migration follows (read from the files' headers)."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        text = script.read_text()
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        assert revision is not None, f"{script.name} names no revision"
        assert down is not None, f"{script.name} names no down_revision"
        revisions.add(revision.group(1))
        if down.group(1):
            followed.add(down.group(1))
    heads = revisions - followed
    assert len(heads) <= 1, f"the migrations have several heads: {sorted(heads)}"
    return next(iter(heads), None)


def database_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
