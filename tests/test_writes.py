"""A lot's columns are listed once: the table, read back into ``LotRow`` and written from it."""

from service.events.writes import LOT, LOT_INSERT_FIELDS, LOT_PLACEMENT_FIELDS
from service.lots import LOT_ROW_FIELDS
from service.models import Lot


def test_a_lot_row_and_its_placement_are_every_column_of_the_lot_table() -> None:
    assert sorted(LOT.c.keys()) == sorted({*LOT_ROW_FIELDS, *LOT_PLACEMENT_FIELDS})
    assert len(LOT_ROW_FIELDS) + len(LOT_PLACEMENT_FIELDS) == len(LOT.c)


def test_a_batch_writes_every_column_but_the_key_the_database_gives() -> None:
    assert set(LOT_INSERT_FIELDS) | set(LOT_PLACEMENT_FIELDS) == set(LOT.c.keys()) - {"pk"}
    assert set(Lot.model_fields) == set(LOT.c.keys())
