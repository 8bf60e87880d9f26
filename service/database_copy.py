"""``lodestone copy --to URL``: the whole database, every table, into an empty PostgreSQL database.

Generic over tables: each table of the SQLModel metadata is copied, parents before children
(``sorted_tables``), so a table added later is copied without an edit here. Rows are read through
SQLAlchemy Core and the same Python values inserted, so each column type's own conversions carry the
values over unchanged: exact decimals (text on SQLite, NUMERIC on PostgreSQL), JSON, UTC timestamps.
Primary keys are kept as they are (foreign keys, the audit chain and page cursors name them), and
PostgreSQL's sequences are then set past them.

All or nothing: the source is read in one transaction (one consistent snapshot); the target is
migrated, checked, written and its sequences set in one transaction, so a refusal or a failure
leaves it exactly as it was, migrations included. The source is never written.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

import service.models  # noqa: F401  (registers the tables)
from alembic import command
from service.config import Settings
from service.db import create_db_engine
from service.migrations import alembic_config, database_revision, head_revision, upgrade

# Rows read and inserted at a time: memory stays bounded whatever the size of the database.
CHUNK_ROWS = 1000
DIALECTS = ("sqlite", "postgresql")
URL_EXAMPLE = "postgresql+psycopg://user:password@host:5432/lodestone"

Rows = dict[str, list[tuple[Any, ...]]]


class CopyError(Exception):
    """The copy was refused or failed; the target holds what it held before."""


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]  # table -> rows copied, in the order copied
    seconds: float

    def summary(self) -> list[str]:
        width = max(map(len, self.rows), default=0)
        lines = [f"{name:<{width}}  {count:>10,}" for name, count in self.rows.items()]
        total = sum(self.rows.values())
        lines.append(f"copied {total:,} rows of {len(self.rows)} tables in {self.seconds:.1f} s")
        return lines


def copy_database(source_url: str, target_url: str, chunk_rows: int = CHUNK_ROWS) -> CopyReport:
    """Copy every row of the source into the empty target (migrated to head first); refuse anything else."""
    started = time.perf_counter()
    source, target = _parse(source_url, "source"), _parse(target_url, "target")
    if _same_database(source, target):
        raise CopyError("the source and the target are the same database")
    database = Settings(database_url=source_url).sqlite_path()
    if database is not None and not database.is_file():
        raise CopyError(f"the source database {database} does not exist (LODESTONE_DATABASE_URL names it)")
    fresh = _fresh_rows()
    source_engine, target_engine = _engine(source_url, source, "source"), _engine(target_url, target, "target")
    try:
        with _connect(source_engine, "source") as reading, reading.begin():
            _check_source(reading)
            # A SQLite target takes its write lock at BEGIN (IMMEDIATE); the option means nothing to PostgreSQL.
            writer = _connect(target_engine.execution_options(lodestone_write=True), "target")
            with writer as writing, writing.begin():
                _migrate(writing)
                _lock(writing)
                _refuse_unless_empty(writing, fresh)
                rows = {t.name: _copy_table(reading, writing, t, fresh, chunk_rows) for t in _tables()}
                _reset_sequences(writing)
    except SQLAlchemyError as exc:
        raise CopyError(f"the copy failed, nothing was written: {_reason(exc)}") from exc
    finally:
        source_engine.dispose()
        target_engine.dispose()
    return CopyReport(rows=rows, seconds=time.perf_counter() - started)


def _tables() -> list[sa.Table]:
    return list(SQLModel.metadata.sorted_tables)


def _parse(url: str, side: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not echoed: a mistyped URL may still hold a password.
        raise CopyError(f"the {side} is not a database URL; expected one like {URL_EXAMPLE}") from None
    if parsed.get_backend_name() not in DIALECTS:
        raise CopyError(
            f"the {side} URL names {parsed.get_backend_name()!r}: Lodestone runs on SQLite and PostgreSQL "
            f"(a URL like {URL_EXAMPLE})"
        )
    return parsed


def _same_database(a: URL, b: URL) -> bool:
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return bool(a.database) and Path(a.database or "").resolve() == Path(b.database or "").resolve()
    return (a.host, a.port, a.database) == (b.host, b.port, b.database)


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own words, on one line, without SQLAlchemy's statement and background link."""
    detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return " ".join(line.strip() for line in str(detail).splitlines() if line.strip())


def _engine(url: str, parsed: URL, side: str) -> sa.Engine:
    try:
        return create_db_engine(Settings(database_url=url))
    except (SQLAlchemyError, ImportError, OSError) as exc:  # a driver not installed; a SQLite folder not made
        raise CopyError(f"cannot open the {side} database {_shown(parsed)}: {exc}") from exc


def _connect(engine: sa.Engine, side: str) -> sa.Connection:
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise CopyError(f"cannot connect to the {side} database {_shown(engine.url)}: {_reason(exc)}") from exc
    if side == "source" and connection.dialect.name == "postgresql":
        # Every table read from one snapshot, as SQLite's read transaction gives by itself.
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return connection


def _fresh_rows() -> Rows:
    """The rows the migrations themselves put in (the audit chain's genesis head): an empty database holds these."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            found = {table.name: [tuple(row) for row in connection.execute(sa.select(table))] for table in _tables()}
    finally:
        engine.dispose()
    return {name: rows for name, rows in found.items() if rows}


def _check_source(reading: sa.Connection) -> None:
    revision, head = database_revision(reading), head_revision()
    if revision != head:
        raise CopyError(
            f"the source database is at migration {revision or '(none)'} and this Lodestone's schema at {head}: "
            "run `lodestone migrate` on the source first, with this version of Lodestone"
        )


def _migrate(writing: sa.Connection) -> None:
    """Bring the target to head inside the copy's transaction, so a refused copy does not even migrate it.

    The same Alembic configuration as ``service.migrations.upgrade``, given our connection rather than an
    engine: Alembic joins the transaction already open on it.
    """
    revision = database_revision(writing)
    if revision == head_revision():
        return
    config = alembic_config()
    config.attributes["connection"] = writing
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise CopyError(
            f"cannot migrate the target from {revision} (a newer Lodestone's schema?) to {head_revision()}: {exc}"
        ) from exc


def _lock(writing: sa.Connection) -> None:
    """Keep PostgreSQL writers out until the copy commits; readers go on (SQLite: BEGIN IMMEDIATE did it)."""
    if writing.dialect.name != "postgresql":
        return
    tables = ", ".join(writing.dialect.identifier_preparer.format_table(table) for table in _tables())
    writing.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")


def _refuse_unless_empty(writing: sa.Connection, fresh: Rows) -> None:
    held: dict[str, int] = {}
    for table in _tables():
        expected = fresh.get(table.name, [])
        found = [tuple(row) for row in writing.execute(sa.select(table).limit(len(expected) + 1))]
        if len(found) > len(expected) or any(row not in expected for row in found):
            held[table.name] = writing.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    if held:
        listed = ", ".join(f"{name} {count:,}" for name, count in held.items())
        raise CopyError(
            f"the target database already holds rows ({listed}): copy into an empty database; nothing was written"
        )


def _copy_table(reading: sa.Connection, writing: sa.Connection, table: sa.Table, fresh: Rows, chunk_rows: int) -> int:
    if table.name in fresh:
        # Only the migrations' own rows are there (checked): the source's rows replace them.
        writing.execute(table.delete())
    query = sa.select(table).order_by(*table.primary_key.columns).execution_options(yield_per=chunk_rows)
    keys = [column.key for column in table.columns]
    copied = 0
    for rows in reading.execute(query).partitions():
        writing.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])
        copied += len(rows)
    return copied


def _reset_sequences(writing: sa.Connection) -> None:
    """Set each PostgreSQL sequence past the largest key copied, so the next insert does not collide.

    SQLite needs nothing: it takes a new key from the largest one present.
    """
    if writing.dialect.name != "postgresql":
        return
    preparer = writing.dialect.identifier_preparer
    for table in _tables():
        for column in table.primary_key.columns:
            sequence = writing.execute(
                sa.select(sa.func.pg_get_serial_sequence(preparer.format_table(table), column.name))
            ).scalar_one()
            if sequence is not None:
                next_key = sa.func.coalesce(sa.func.max(column), 0) + 1
                writing.execute(sa.select(sa.func.setval(sequence, next_key, False)))
