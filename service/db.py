"""Engine, sessions, the constraint naming convention and exact column types."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import Session, SQLModel

from service.config import Settings
from service.numbers import format_decimal

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """A decimal stored exactly: NUMERIC on PostgreSQL, canonical text on SQLite.

    SQLite has no decimal type (its NUMERIC is a binary float), so the value
    is kept as its plain decimal string; a negative value starts with ``-``,
    which lets a CHECK constraint refuse it on either backend.
    """

    impl = sa.String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(38, 12))
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value
        return format_decimal(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps kept in UTC; SQLite's text form sorts correctly because every value is UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Request transactions and side work (idempotency records, readiness checks) each have their
# own cap, and the pool holds both: a request checking out a connection never waits for one,
# which matters because read requests open their transaction on the event loop.
SESSION_CONNECTIONS = 15
SIDE_CONNECTIONS = 5
POOL_SIZE = 10
POOL_OVERFLOW = SESSION_CONNECTIONS + SIDE_CONNECTIONS - POOL_SIZE
MAX_CONNECTIONS = POOL_SIZE + POOL_OVERFLOW


def create_db_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        db_path = settings.sqlite_path()
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and transactions that SQLAlchemy begins itself.

    pysqlite's own transaction handling defers BEGIN; we emit it ourselves so a
    writer can take the write lock at once (``BEGIN IMMEDIATE``) and two writers
    never both read a lot's remaining quantity before either writes.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get("lodestone_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back otherwise.

    Domain code flushes and never commits; this is the only place that does. Nothing
    touches the database until the session is first used (a writer's ``BEGIN IMMEDIATE``
    included), so entering the block never waits for a lock.
    """
    bind = engine.execution_options(lodestone_write=True) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
