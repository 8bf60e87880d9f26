"""What a batch of events writes: every row, once every event has passed, in a few executemany statements."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from service.lots import LOT_ROW_FIELDS, LotRow

EVENT = SQLModel.metadata.tables["event"]
EVENT_INPUT = SQLModel.metadata.tables["event_input"]
LOT = SQLModel.metadata.tables["lot"]
# A lot's row is its LotRow (less the key the database gives it) and where its event put it.
LOT_INSERT_FIELDS = tuple(name for name in LOT_ROW_FIELDS if name != "pk")
LOT_PLACEMENT_FIELDS = ("event_pk", "position", "is_production")


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
        """Every row in a few executemany statements, in the order the events made them.

        Rows point at the event and lots just inserted by their ids, looked up in SQL, rather
        than by primary keys sent back (RETURNING): on PostgreSQL that keeps each statement
        small and prepared once for all its rows.
        """
        if not self.events:
            return
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
        if self.consumed:
            session.execute(
                sa.update(LOT).where(LOT.c.pk == sa.bindparam("lot_pk")).values(remaining=sa.bindparam("left")),
                [{"lot_pk": pk, "left": lot.remaining} for pk, lot in sorted(self.consumed.items())],
            )


def _pk_of(table: sa.Table, id_parameter: str) -> Any:
    """The primary key of the row of ``table`` whose id is the statement's parameter ``id_parameter``."""
    return sa.select(table.c.pk).where(table.c.id == sa.bindparam(id_parameter)).scalar_subquery()
