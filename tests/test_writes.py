"""What a batch writes: a lot's columns listed once, and the same rows by either bulk path, all or nothing."""

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from service.config import Settings
from service.events.writes import LOT, LOT_INSERT_FIELDS, LOT_PLACEMENT_FIELDS, Writes
from service.lots import LOT_ROW_FIELDS
from service.models import Lot
from tests.helpers import all_lots, event, lot_input, make_chain, post_ok


def test_a_lot_row_and_its_placement_are_every_column_of_the_lot_table() -> None:
    assert sorted(LOT.c.keys()) == sorted({*LOT_ROW_FIELDS, *LOT_PLACEMENT_FIELDS})
    assert len(LOT_ROW_FIELDS) + len(LOT_PLACEMENT_FIELDS) == len(LOT.c)


def test_a_batch_writes_every_column_but_the_key_the_database_gives() -> None:
    assert set(LOT_INSERT_FIELDS) | set(LOT_PLACEMENT_FIELDS) == set(LOT.c.keys()) - {"pk"}
    assert set(Lot.model_fields) == set(LOT.c.keys())


# A batch as the bench sends them, and then some: chains whose events consume earlier lots of the batch,
# in whole and in part, receipts declared in whole and in part, derived splits over two outputs.
def _chains(lines: int) -> list[dict[str, Any]]:
    events = []
    for line in range(lines):
        ore, ref = f"ORE-{line}", f"ORE-{line}-R"
        events += [
            event("extraction", "MINE", outputs=[
                {"code": ore, "material": "ore", "quantity": "100", "unit": "kg",
                 "composition": {"Nd": f"{10 + line % 7}.5", "Pr": "3", "Dy": f"0.{line % 9 + 1}"}}]),
            event("transfer", "MINE", inputs=[lot_input(ore, "100")], outputs=[{"code": ref, "facility": "REF"}]),
            event("receipt", "REF", outputs=[
                {"code": f"BUY-{line}", "material": "concentrate", "quantity": "50", "unit": "kg",
                 "composition": {"Nd": "7", "REE": "2"} if line % 5 == 0 else {"Nd": "7", "Tb": "0.25"},
                 "declared_origin": [{"route": {"mining": ("MM", "CN", "US")[line % 3]},
                                      "percent": "100" if line % 2 else "62.5"}]}]),
            event("processing", "REF", stage="refining",
                  inputs=[lot_input(ref, "100" if line % 3 else "60"), lot_input(f"BUY-{line}", "50")],
                  outputs=[{"code": f"OX-{line}-A", "material": "oxide", "quantity": "40", "unit": "kg"},
                           {"code": f"OX-{line}-B", "material": "oxide", "quantity": f"2{line % 4}", "unit": "kg"}]),
        ]  # fmt: skip
    return events


def _without_ids(value: Any) -> Any:
    """An answer without what differs from one recording to the next: ids and the time of recording."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in ("id", "lot", "event", "recorded_at")}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def test_a_large_batch_records_what_its_events_one_by_one_would(client: TestClient, second_client: TestClient) -> None:
    events = _chains(60)
    make_chain(client)
    make_chain(second_client)
    entries = client.get("/v1/audit/verify").json()["entries"]
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 201, response.text
    one_by_one = [post_ok(second_client, "/v1/events", body) for body in events]
    assert _without_ids(response.json()["events"]) == _without_ids(one_by_one)
    batch_lots = all_lots(client)
    assert len(batch_lots) == 60 * 5
    assert _without_ids(batch_lots) == _without_ids(all_lots(second_client))
    for answered in (client, second_client):
        verification = answered.get("/v1/audit/verify").json()
        assert verification["ok"]
        assert verification["entries"] == entries + len(events)


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row an event writes, JSON as the database keeps its text, without uuids and the time of recording."""
    engine = sa.create_engine(url)
    queries = {
        "event": "SELECT pk, type, facility_pk, stage, occurred_at, reference, status, voided_at, body::text"
        " FROM event ORDER BY pk",
        "lot": "SELECT pk, code, organization_pk, facility_pk, event_pk, position, material, quantity, unit,"
        " remaining, composition::text, origin::text, element_resolved, is_production, sku_pk, status,"
        " occurred_at, value_amount, value_currency, epc_class FROM lot ORDER BY pk",
        "event_input": "SELECT * FROM event_input ORDER BY event_pk, position",
    }
    with engine.connect() as connection:
        rows = {name: [tuple(row) for row in connection.execute(sa.text(sql))] for name, sql in queries.items()}
    engine.dispose()
    return rows


def test_copy_writes_the_rows_executemany_inserts_would(
    client: TestClient, second_client: TestClient, settings: Settings, second_settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL's")
    make_chain(client)
    make_chain(second_client)
    events = _chains(25)
    assert client.post("/v1/events/batch", json={"events": events}).status_code == 201
    with pytest.MonkeyPatch.context() as patch:  # the other real path, on the same real database server
        patch.setattr(Writes, "_copy", Writes._insert)
        assert second_client.post("/v1/events/batch", json={"events": events}).status_code == 201
    copied, inserted = _rows(settings.database_url), _rows(second_settings.database_url)
    assert len(copied["lot"]) == 25 * 5
    assert len(copied["event_input"]) == 25 * 3
    assert copied == inserted


REFUSE_LOT = {
    "postgresql": [
        "CREATE FUNCTION refuse_lot() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.code = 'REFUSED' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'unique_violation';"
        " END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_lot BEFORE INSERT ON lot FOR EACH ROW EXECUTE FUNCTION refuse_lot()",
    ],
    "sqlite": [
        "CREATE TRIGGER refuse_lot BEFORE INSERT ON lot WHEN NEW.code = 'REFUSED'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    ],
}
ALLOW_LOT = {
    "postgresql": ["DROP TRIGGER IF EXISTS refuse_lot ON lot", "DROP FUNCTION IF EXISTS refuse_lot()"],
    "sqlite": ["DROP TRIGGER IF EXISTS refuse_lot"],
}


def _run(url: str, statements: list[str]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()


def test_a_batch_the_database_refuses_halfway_writes_nothing(client: TestClient, settings: Settings) -> None:
    """Every check passes, then the database refuses a lot in the middle of the rows (as a racing writer's
    unique code would): 409, and not one event, lot, input or audit entry of the batch remains."""
    make_chain(client)
    earlier = post_ok(client, "/v1/events", _chains(1)[0])["outputs"][0]
    before = (all_lots(client), client.get("/v1/audit/verify").json())
    events = _chains(30)[1:]  # consumes ORE-0, recorded before the batch
    events[58]["outputs"][0]["code"] = "REFUSED"  # line 14's oxide, which nothing consumes
    backend = make_url(settings.database_url).get_backend_name()
    _run(settings.database_url, REFUSE_LOT[backend])
    try:
        response = client.post("/v1/events/batch", json={"events": events})
    finally:
        _run(settings.database_url, ALLOW_LOT[backend])
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (all_lots(client), client.get("/v1/audit/verify").json()) == before
    assert client.get(f"/v1/lots/{earlier['id']}").json()["remaining"] == "100"
    assert client.post("/v1/events/batch", json={"events": events}).status_code == 201
    assert client.get(f"/v1/lots/{earlier['id']}").json()["remaining"] == "0"
