"""What a batch of events writes: every row, once every event has passed, in a few executemany statements."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from service.lots import LotRow

EVENT = SQLModel.metadata.tables["event"]
EVENT_INPUT = SQLModel.metadata.tables["event_input"]
LOT = SQLModel.metadata.tables["lot"]


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
                {
                    "id": lot.id,
                    "code": lot.code,
                    "organization_pk": lot.organization_pk,
                    "facility_pk": lot.facility_pk,
                    "event_id": self.events[made.event]["id"],
                    "position": made.position,
                    "material": lot.material,
                    "quantity": lot.quantity,
                    "unit": lot.unit,
                    "remaining": lot.remaining,
                    "composition": lot.composition,
                    "origin": lot.origin,
                    "element_resolved": lot.element_resolved,
                    "is_production": made.is_production,
                    "sku_pk": lot.sku_pk,
                    "status": lot.status,
                    "occurred_at": lot.occurred_at,
                    "recorded_at": lot.recorded_at,
                }
                for made in self.lots
                for lot in (made.lot,)
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
