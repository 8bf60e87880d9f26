"""What events read from the database, read once per batch with a few queries.

A batch names facilities, SKUs, organizations and input lots again and again; they are
read up front, and the input lots are locked then, all together in primary-key order.
Lots the batch makes are remembered as it makes them, so a later event can consume one
and a later output cannot take its code.
"""

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, SQLModel, col, select

from service.facilities import facility_stages, unknown_facility
from service.lots import LOT_ROW_FIELDS, LotRow
from service.models import Facility, Sku
from service.schemas import EventCreate, InputCreate, is_code

CHUNK = 500  # values per IN (...): well within every backend's limit on bound parameters
T = TypeVar("T")
LOT = SQLModel.metadata.tables["lot"]
ORGANIZATION = SQLModel.metadata.tables["organization"]


def _chunks(values: Iterable[T]) -> Iterator[list[T]]:
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _rows(session: Session, query: Any, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """``query`` where ``column`` is one of ``values``, in as many queries as it takes.

    On PostgreSQL the values go as one array (``= ANY``): one parameter instead of hundreds,
    so the statement is the same every time and costs nothing to render or parse.
    """
    if session.get_bind().dialect.name == "postgresql":
        wanted = list(dict.fromkeys(values))
        if wanted:
            array = sa.bindparam("wanted", wanted, type_=postgresql.ARRAY(column.type))
            yield from session.execute(query.where(column == sa.any_(array)))
        return
    for chunk in _chunks(dict.fromkeys(values)):
        yield from session.execute(query.where(column.in_(chunk)))


def _lower(column: Any) -> Any:
    return sa.func.lower(column, type_=sa.String())


def _lowered(codes: Iterable[str]) -> set[str]:
    """The well-formed codes among ``codes``, lower-cased: how they are matched."""
    return {code.lower() for code in codes if is_code(code)}


class Lookups:
    """Facilities, SKUs, organizations and lots named by a batch of events, and the lots it made so far."""

    def __init__(self, session: Session, bodies: list[EventCreate]) -> None:
        self.session = session
        facility_codes = {body.facility for body in bodies}
        facility_codes |= {out.facility for body in bodies for out in body.outputs if out.facility is not None}
        # Codes are unique and found without regard to case (ASCII only, so Python's lower() is SQL's).
        self.facilities: dict[str, Facility] = {
            row.code.lower(): row
            for (row,) in _rows(session, select(Facility), _lower(col(Facility.code)), _lowered(facility_codes))
        }
        self.stages = {
            pk: set(values)
            for pk, values in facility_stages(session, [f.pk or 0 for f in self.facilities.values()]).items()
        }
        sku_codes = {out.sku for body in bodies for out in body.outputs if out.sku is not None}
        self.skus: dict[str, Sku] = {
            row.sku.lower(): row for (row,) in _rows(session, select(Sku), _lower(col(Sku.sku)), _lowered(sku_codes))
        }
        inputs = [item for body in bodies for item in body.inputs]
        self.organization_pks: dict[str, int] = {}
        self.organization_codes: dict[int, str] = {}
        named = {i.organization for i in inputs if i.organization is not None}
        self._load_organizations(_lower(ORGANIZATION.c.code), _lowered(named))
        self.lots_by_id: dict[str, LotRow] = {}
        self.lots_by_code: dict[tuple[int, str], LotRow] = {}
        self._lock_inputs(inputs)
        self.skus_by_pk = {sku.pk or 0: sku for sku in self.skus.values()}
        missing_skus = {lot.sku_pk for lot in self.lots_by_id.values()} - {None, *self.skus_by_pk}
        for (sku,) in _rows(session, select(Sku), col(Sku.pk), missing_skus):
            self.skus_by_pk[sku.pk] = sku
        holders = {f.organization_pk for f in self.facilities.values()}
        holders |= {lot.organization_pk for lot in self.lots_by_id.values()}
        self._load_organizations(ORGANIZATION.c.pk, holders - set(self.organization_codes))
        self.taken: set[tuple[int, str]] = set()
        self._load_taken(bodies)

    def _load_organizations(self, column: Any, values: Iterable[Any]) -> None:
        query = sa.select(ORGANIZATION.c.pk, ORGANIZATION.c.code)
        for pk, code in _rows(self.session, query, column, values):
            self.organization_pks[code.lower()] = pk
            self.organization_codes[pk] = code

    def _lock_inputs(self, inputs: list[InputCreate]) -> None:
        """Find the lots the batch consumes, then lock and read them in primary-key order (see ``lock_lots``)."""
        by_id = {item.lot for item in inputs if item.lot is not None}
        by_code: set[tuple[str, int]] = set()
        for item in inputs:
            organization_pk = self.organization_pks.get((item.organization or "").lower())
            if item.lot_code is not None and organization_pk is not None:
                by_code.add((item.lot_code.lower(), organization_pk))
        light = sa.select(LOT.c.pk, LOT.c.code, LOT.c.organization_pk)
        pks = {pk for pk, _code, _org in _rows(self.session, light, LOT.c.id, by_id)}
        for pk, code, organization_pk in _rows(self.session, light, _lower(LOT.c.code), (c for c, _ in by_code)):
            if (code.lower(), organization_pk) in by_code:
                pks.add(pk)
        locked = sa.select(*(LOT.c[name] for name in LOT_ROW_FIELDS)).order_by(LOT.c.pk).with_for_update()
        for row in _rows(self.session, locked, LOT.c.pk, sorted(pks)):
            self._remember(LotRow(*row))

    def _load_taken(self, bodies: list[EventCreate]) -> None:
        """Lot codes the batch's outputs would take that are already used in the receiving organization.

        Read after the input lots are locked, so a writer that held them has committed its lots.
        """
        wanted: set[tuple[int, str]] = set()
        for body in bodies:
            for out in body.outputs:
                facility = self.facilities.get((out.facility or body.facility).lower())
                if facility is not None:
                    wanted.add((facility.organization_pk, out.code.lower()))
        query = sa.select(LOT.c.organization_pk, LOT.c.code)
        for organization_pk, code in _rows(self.session, query, _lower(LOT.c.code), (code for _, code in wanted)):
            if (organization_pk, code.lower()) in wanted:
                self.taken.add((organization_pk, code.lower()))

    def _remember(self, lot: LotRow) -> None:
        self.lots_by_id[lot.id] = lot
        self.lots_by_code[lot.organization_pk, lot.code.lower()] = lot

    def facility(self, code: str, field: str) -> Facility:
        facility = self.facilities.get(code.lower())
        if facility is None:
            raise unknown_facility(code, field)
        return facility

    def input_lot(self, item: InputCreate) -> LotRow | None:
        if item.lot is not None:
            return self.lots_by_id.get(item.lot)
        organization_pk = self.organization_pks.get((item.organization or "").lower())
        if organization_pk is None:
            return None
        return self.lots_by_code.get((organization_pk, (item.lot_code or "").lower()))

    def sku(self, code: str) -> Sku | None:
        return self.skus.get(code.lower())

    def is_taken(self, organization_pk: int, code: str) -> bool:
        return (organization_pk, code.lower()) in self.taken

    def made(self, lot: LotRow) -> None:
        """A lot this batch made: later events may consume it, and its code is taken."""
        self._remember(lot)
        self.taken.add((lot.organization_pk, lot.code.lower()))
