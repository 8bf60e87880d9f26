"""Engine, sessions, the constraint naming convention and exact column types."""

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.sql.compiler import SQLCompiler
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
    with _committed(Session(bind, expire_on_commit=False)) as session:
        yield session


@contextmanager
def _committed(session: Session) -> Iterator[Session]:
    with session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# Read replicas (README, "Scale-out: read replicas"). A position in the write-ahead log is an LSN,
# written by PostgreSQL as two hexadecimal halves of a 64-bit number: ``16/B374D848``.
_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
REPLICA_RETRY_SECONDS = 5  # after the replica failed to answer, reads stay on the primary this long
REPLICA_CONNECT_TIMEOUT_SECONDS = 2
# A replica's status that let a read through is trusted this long by the checks of remembered answers
# (``ReadReplica.found``): one checked there is then at most LODESTONE_READ_REPLICA_MAX_LAG_SECONDS plus this old.
# Reading it for every check cost a quarter of a remembered answer's throughput on the replica (BENCHMARKS.md,
# "Reads on a streaming replica").
REPLICA_STATUS_REUSE_SECONDS = 0.1


def parse_lsn(text: str) -> int | None:
    """The position ``text`` names (``16/B374D848``), or None when it is not one."""
    match = _LSN.fullmatch(text)
    return (int(match[1], 16) << 32 | int(match[2], 16)) if match else None


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def wal_position(engine: Engine) -> int | None:
    """How far the primary's write-ahead log is written: read after a commit, it covers that commit.

    None when the primary does not answer: the write is committed all the same, and its answer
    must say so rather than fail for want of a token.
    """
    try:
        with engine.connect() as connection:
            lsn = connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one()
    except sa.exc.SQLAlchemyError:
        return None
    return parse_lsn(lsn)


# One round trip: how far the replica has replayed, and how stale that is. It is behind only while it
# holds WAL it has received and not replayed; its lag is then the age of the last transaction it did
# replay (an overestimate after an idle spell, never an underestimate). Without a WAL receiver it cannot
# know what it misses (the primary is gone or unreachable), so it is not current whatever it replayed.
_REPLICA_STATUS = sa.text("""
SELECT pg_is_in_recovery() AS is_standby,
       pg_last_wal_replay_lsn()::text AS replayed,
       COALESCE(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false) AS is_behind,
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) AS replay_age,
       EXISTS (SELECT FROM pg_stat_wal_receiver) AS is_streaming
""")


@dataclass(frozen=True)
class ReplicaStatus:
    is_standby: bool
    is_streaming: bool
    replayed: int  # LSN
    lag_seconds: Decimal | None  # None: behind by an unknown amount

    def serves(self, max_lag_seconds: Decimal, token: int | None) -> bool:
        """Whether a read may come from here: a streaming standby within the lag bound that has replayed ``token``."""
        current = self.lag_seconds is not None and self.lag_seconds <= max_lag_seconds
        replayed = token is None or self.replayed >= token
        return self.is_standby and self.is_streaming and current and replayed


def replica_status(connection: sa.Connection) -> ReplicaStatus:
    return _status(*connection.execute(_REPLICA_STATUS).one())


def _status(is_standby: Any, replayed: Any, is_behind: Any, age: Any, is_streaming: Any) -> ReplicaStatus:
    """``_REPLICA_STATUS``'s row, in its columns' order (a boolean, the replayed LSN as text or NULL, a boolean, seconds
    or NULL, a boolean)."""
    if not is_standby:  # promoted, or not a replica at all: its data no longer follows the primary's
        return ReplicaStatus(False, False, 0, None)
    lag = (max(Decimal(0), Decimal(str(age))) if age is not None else None) if is_behind else Decimal(0)
    return ReplicaStatus(True, bool(is_streaming), parse_lsn(replayed or "") or 0, lag)


_STATUS_COLUMNS = 5


@dataclass
class ReadReplica:
    """Where reads may go: a streaming replica's engine, how stale it may be, and when to try it again."""

    engine: Engine
    max_lag_seconds: Decimal
    retry_at: float = 0.0  # time.monotonic(); until then, reads skip a replica that failed to answer
    # For ``found``: autocommit, no ping on checkout (``create_check_engine``'s, on the replica); None: ``engine``.
    checks: Engine | None = None
    # time.monotonic(); until then a read without a token may skip the status (``REPLICA_STATUS_REUSE_SECONDS``).
    serves_until: float = 0.0

    def _served(self, status: ReplicaStatus, token: int | None) -> bool:
        serves = status.serves(self.max_lag_seconds, token)
        if token is None:
            self.serves_until = time.monotonic() + REPLICA_STATUS_REUSE_SECONDS if serves else 0.0
        return serves

    def _failed(self) -> None:
        self.retry_at = time.monotonic() + REPLICA_RETRY_SECONDS
        self.serves_until = 0.0

    def session(self, token: int | None) -> Session | None:
        """A session on the replica, already in its transaction, when it may answer; None when it may not.

        The status is read every time: a replica that stopped since is then noticed before the request's own
        statements, which would fail (``found``, which can fall back by itself, trusts a recent one).
        """
        if time.monotonic() < self.retry_at:
            return None
        session = Session(self.engine, expire_on_commit=False)
        try:
            status = replica_status(session.connection())
        except sa.exc.SQLAlchemyError:
            session.close()
            self._failed()
            return None
        if not self._served(status, token):
            session.close()
            return None
        return session

    def found(self, sql: str, parameters: Any) -> tuple[bool, tuple[object, ...] | None]:
        """Whether the replica may answer now, and the row ``sql`` (driver SQL, as ``driver_statement`` gives it)
        gives there: one statement, one round trip, the status (unless trusted still) and the row in one snapshot.

        For the check of a remembered answer (``api.remembered``), where ``session`` would be a session, a ping,
        a transaction and two statements.
        """
        now = time.monotonic()
        if now < self.retry_at:
            return False, None
        trusted = now < self.serves_until
        checks = self.checks or self.engine
        # ``sql`` is one of our statements compiled by ``driver_statement``; values travel as parameters.
        both = f"SELECT * FROM ({_REPLICA_STATUS.text}) AS s LEFT JOIN LATERAL ({sql}) AS p ON true"  # noqa: S608
        try:
            (row,) = driver_rows(checks, [(sql if trusted else both, parameters)])
        except (sa.exc.SQLAlchemyError, checks.dialect.loaded_dbapi.Error):
            self._failed()
            return False, None
        if trusted:
            return True, row
        if row is None or len(row) <= _STATUS_COLUMNS or not self._served(_status(*row[:_STATUS_COLUMNS]), None):
            return False, None
        pinned = row[_STATUS_COLUMNS:]
        return True, None if all(value is None for value in pinned) else pinned


def create_read_replica(settings: Settings) -> ReadReplica | None:
    """The replica of ``LODESTONE_READ_DATABASE_URL``, or None (unset, or the primary is SQLite)."""
    if settings.read_database_url is None or settings.database_is_local():
        return None
    engine = sa.create_engine(
        settings.read_database_url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        connect_args={"connect_timeout": REPLICA_CONNECT_TIMEOUT_SECONDS, "application_name": "lodestone-read"},
    )
    checks = sa.create_engine(
        settings.read_database_url,
        isolation_level="AUTOCOMMIT",
        pool_size=SIDE_CONNECTIONS,
        max_overflow=0,
        connect_args={"connect_timeout": REPLICA_CONNECT_TIMEOUT_SECONDS, "application_name": "lodestone-read"},
    )
    return ReadReplica(engine, settings.read_replica_max_lag_seconds, checks=checks)


@contextmanager
def read_transaction(primary: Engine, replica: ReadReplica | None, token: int | None) -> Iterator[Session]:
    """A read's transaction: on the replica when it is current (and has replayed ``token``), else on the primary.

    The replica's answer is consistent (one standby snapshot per statement, never ahead of the primary)
    and at most ``max_lag_seconds`` old; with a token, it holds at least everything up to the token.
    """
    session = replica.session(token) if replica is not None else None
    if session is None:
        with transaction(primary, write=False) as on_primary:
            yield on_primary
        return
    with _committed(session) as on_replica:
        yield on_replica


def driver_statement(engine: Engine, statement: sa.ClauseElement, params: Mapping[str, Any]) -> tuple[str, Any]:
    """A statement's SQL and parameters as the driver takes them, for a cursor run without SQLAlchemy.

    For the one read on the hottest path (``api.remembered``): SQLAlchemy's connection, transaction and
    result layers cost more than the query itself there. Parameters pass through their types' bind
    processing, as SQLAlchemy would send them.
    """
    compiled = statement.compile(dialect=engine.dialect)
    assert isinstance(compiled, SQLCompiler)
    values = dict(compiled.construct_params(dict(params)))
    for name, bind in compiled.binds.items():
        processor = bind.type.bind_processor(engine.dialect)
        if processor is not None and name in values:
            values[name] = processor(values[name])
    if compiled.positiontup is not None:
        return compiled.string, tuple(values[name] for name in compiled.positiontup)
    return compiled.string, values


def driver_rows(engine: Engine, statements: Sequence[tuple[str, Any]]) -> list[tuple[object, ...] | None]:
    """The row each statement (driver SQL and parameters, as ``driver_statement`` gives them) gives now, each in
    its own snapshot, on one pooled driver connection with no SQLAlchemy layers; on PostgreSQL they go in one
    round trip (psycopg's pipeline mode).

    Raises SQLAlchemy's or the driver's error when the database cannot be asked; a connection that failed is
    not given to the next caller.
    """
    connection = engine.raw_connection()
    try:
        cursors = [connection.cursor() for _statement in statements]
        with _pipelined(connection.driver_connection, len(statements)):
            for cursor, (sql, parameters) in zip(cursors, statements, strict=True):
                cursor.execute(sql, parameters)
        found = [cursor.fetchone() for cursor in cursors]
        for cursor in cursors:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error:
        connection.invalidate()
        raise
    finally:
        connection.close()
    return [None if row is None else tuple(row) for row in found]


def _pipelined(driver: Any, statements: int) -> AbstractContextManager[object]:
    """Several statements sent before any answer is read, where the driver can (psycopg with pipeline support)."""
    if statements > 1 and type(driver).__module__.startswith("psycopg"):
        import psycopg  # only ever loaded with PostgreSQL, as the driver itself

        if psycopg.Pipeline.is_supported():
            pipeline: AbstractContextManager[object] = driver.pipeline()
            return pipeline
    return nullcontext()


def create_check_engine(settings: Settings) -> Engine | None:
    """Connections for the one-statement reads of remembered answers (``api.remembered``): on PostgreSQL
    autocommit (no BEGIN and ROLLBACK round trips around the statement) and without a ping on checkout, a
    failed read answering the request the long way instead; on SQLite None, the database's own engine.

    Four round trips became one (BENCHMARKS.md, "remembered SKU answer" on PostgreSQL).
    """
    if settings.database_is_local():
        return None
    return sa.create_engine(
        settings.database_url, isolation_level="AUTOCOMMIT", pool_size=SIDE_CONNECTIONS, max_overflow=0
    )
