"""What a batch of events writes: every row, once every event has passed, in a few bulk statements."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Session, SQLModel

from service.lots import LOT_ROW_FIELDS, LotRow

if TYPE_CHECKING:
    import psycopg

EVENT = SQLModel.metadata.tables["event"]
EVENT_INPUT = SQLModel.metadata.tables["event_input"]
LOT = SQLModel.metadata.tables["lot"]
# A lot's row is its LotRow (less the key the database gives it) and where its event put it.
LOT_INSERT_FIELDS = tuple(name for name in LOT_ROW_FIELDS if name != "pk")
LOT_PLACEMENT_FIELDS = ("event_pk", "position", "is_production")
EVENT_FIELDS = tuple(column.name for column in EVENT.c if column.name != "pk")
INPUT_FIELDS = ("event_pk", "position", "lot_pk", "quantity")
# Primary keys for a batch's events and lots, taken from the tables' own sequences in one round trip.
_NEXT_KEYS = sa.text(
    "SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('event', 'pk')) FROM generate_series(1, :events)),"
    " ARRAY(SELECT nextval(pg_get_serial_sequence('lot', 'pk')) FROM generate_series(1, :lots))"
)


@dataclass(frozen=True)
class Made:
    """A lot an event of the batch made, with what its row needs besides the lot itself."""

    lot: LotRow
    event: int  # the event's position in the batch
    position: int
    is_production: bool


@dataclass
class Writes:
    """Rows a batch will write, in the order its events made them."""

    events: list[dict[str, Any]] = field(default_factory=list)
    # (event's position in the batch, input position, lot, quantity consumed)
    inputs: list[tuple[int, int, LotRow, Decimal]] = field(default_factory=list)
    lots: list[Made] = field(default_factory=list)
    # Lots recorded before the batch that it consumed from; lots it made are written with what remains of them.
    consumed: dict[int, LotRow] = field(default_factory=dict)

    def store(self, session: Session) -> None:
        """Every row, in the order the events made them: on PostgreSQL by COPY, elsewhere by executemany.

        PostgreSQL's COPY is its bulk-loading path: the rows stream in one statement per table with
        no statement per row, which made a batch of 1,000 events store in a fraction of the time
        (BENCHMARKS.md, "Ingest", PostgreSQL bulk lots/s). It needs the primary keys up front, so
        they are taken from the tables' sequences first, as the inserts would have taken them.
        """
        if not self.events:
            return
        if session.get_bind().dialect.name == "postgresql":
            self._copy(session)
        else:
            self._insert(session)
        if self.consumed:
            session.execute(
                sa.update(LOT).where(LOT.c.pk == sa.bindparam("lot_pk")).values(remaining=sa.bindparam("left")),
                [{"lot_pk": pk, "left": lot.remaining} for pk, lot in sorted(self.consumed.items())],
            )

    def _insert(self, session: Session) -> None:
        """executemany inserts; rows point at the event and lots just inserted by their ids, looked up in SQL."""
        session.execute(sa.insert(EVENT), self.events)
        session.execute(
            sa.insert(LOT).values(event_pk=_pk_of(EVENT, "event_id")),
            [
                {name: getattr(made.lot, name) for name in LOT_INSERT_FIELDS}
                | {
                    "event_id": self.events[made.event]["id"],
                    "position": made.position,
                    "is_production": made.is_production,
                }
                for made in self.lots
            ],
        )
        if self.inputs:
            session.execute(
                sa.insert(EVENT_INPUT).values(event_pk=_pk_of(EVENT, "event_id"), lot_pk=_pk_of(LOT, "lot_id")),
                [
                    {"event_id": self.events[event]["id"], "position": index, "lot_id": lot.id, "quantity": quantity}
                    for event, index, lot, quantity in self.inputs
                ],
            )

    def _copy(self, session: Session) -> None:
        """COPY into each table; every value goes through its column's own bind processing, as an insert's would."""
        connection = session.connection()
        events, lots = connection.execute(_NEXT_KEYS, {"events": len(self.events), "lots": len(self.lots)}).one()
        event_pks: list[int] = sorted(events)
        for made, pk in zip(self.lots, sorted(lots), strict=True):
            made.lot.pk = pk
        dialect = connection.dialect
        event_rows = (
            (pk, *(event[name] for name in EVENT_FIELDS)) for pk, event in zip(event_pks, self.events, strict=True)
        )
        lot_rows = (
            (
                *(getattr(made.lot, name) for name in LOT_ROW_FIELDS),
                event_pks[made.event],
                made.position,
                made.is_production,
            )
            for made in self.lots
        )
        input_rows = ((event_pks[event], index, lot.pk, quantity) for event, index, lot, quantity in self.inputs)
        import psycopg  # only here: a worker on SQLite never loads the driver (BENCHMARKS.md, "Memory")

        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            with driver.cursor() as cursor:
                _copy_rows(cursor, dialect, EVENT, ("pk", *EVENT_FIELDS), event_rows)
                _copy_rows(cursor, dialect, LOT, (*LOT_ROW_FIELDS, *LOT_PLACEMENT_FIELDS), lot_rows)
                if self.inputs:
                    _copy_rows(cursor, dialect, EVENT_INPUT, INPUT_FIELDS, input_rows)
        except psycopg.Error as exc:
            # As SQLAlchemy would have raised it: a raced unique code is an IntegrityError (409), and so on.
            raise sa.exc.DBAPIError.instance(
                f"COPY ({', '.join(t.name for t in (EVENT, LOT, EVENT_INPUT))})", None, exc, psycopg.Error
            ) from exc


def _copy_rows(
    cursor: "psycopg.Cursor[Any]",
    dialect: Dialect,
    table: sa.Table,
    names: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """``rows`` (values in the order of ``names``) into ``table`` by one COPY."""
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    processed = [(index, process) for index, process in enumerate(processors) if process is not None]
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    with cursor.copy(f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            values = list(row)
            for index, process in processed:
                values[index] = process(values[index])
            copy.write_row(values)


def _pk_of(table: sa.Table, id_parameter: str) -> Any:
    """The primary key of the row of ``table`` whose id is the statement's parameter ``id_parameter``."""
    return sa.select(table.c.pk).where(table.c.id == sa.bindparam(id_parameter)).scalar_subquery()
