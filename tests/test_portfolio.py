"""The catalogue lists (GET /v1/compliance, GET /v1/origin): each item is the per-SKU route's answer, kept answers
are never served past a change, pages are stable under filters, refusals are problems.

Runs on the demo supply chain, on SQLite and PostgreSQL.
"""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlmodel import SQLModel

from service import portfolio
from service.config import Settings
from service.db import create_db_engine, transaction
from service.questions import Question
from service.schemas.portfolio import SkuComplianceItem, SkuOriginItem
from tests.helpers import post_ok

DEMO_SKUS = ["EBIKE-HUB-1", "EV-MOTOR-200", "FAN-RC-3", "PUMP-X9", "SERVO-50"]
SCHEMAS: dict[str, type[BaseModel]] = {"/v1/compliance": SkuComplianceItem, "/v1/origin": SkuOriginItem}
RULE_FIELDS = ("rule", "title", "version", "in_force", "answer", "share_percent", "unknown_percent", "lots_count")
STAGES = ("mining", "refining", "metal_making", "magnet_making")
ORIGIN_FIELDS = ("answer", "share_percent", "unknown_percent", "total_kg", "lots_count")


def listed(client: TestClient, path: str, *, key: str | None = None, **query: Any) -> list[dict[str, Any]]:
    """Every item of the list, page by page (with ``key``, as its holder), checking each page's size."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    items: list[dict[str, Any]] = []
    cursor = None
    limit = int(query.get("limit", 50))
    while True:
        response = client.get(path, params=query | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        schema = SCHEMAS.get(path)
        for item in body["items"]:  # the catalogue's items are written as text: held to their schema
            assert schema is None or list(item) == list(schema.model_fields)
            assert schema is None or schema.model_validate(item).model_dump(mode="json") == item
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def per_sku_rules(client: TestClient, sku: str, **query: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/skus/{sku}/compliance", params=query)
    assert response.status_code == 200, response.text
    return [{field: result[field] for field in RULE_FIELDS} for result in response.json()["results"]]


def per_sku_origin(client: TestClient, sku: str, **query: str) -> dict[str, Any]:
    response = client.get(f"/v1/skus/{sku}/origin", params=query)
    assert response.status_code == 200, response.text
    return {field: response.json()[field] for field in ORIGIN_FIELDS}


def origin_of(item: dict[str, Any]) -> dict[str, Any]:
    return {field: item[field] for field in ORIGIN_FIELDS}


def receipt(sku: str, code: str, country: str) -> dict[str, Any]:
    """One more production lot of the SKU whose dysprosium went through ``country`` at every stage to the magnet."""
    declared = [{"route": dict.fromkeys(STAGES, country), "percent": "100"}]
    output = {"code": code, "material": "product", "quantity": "1", "unit": "pcs", "composition": {"Dy": "1"},
              "sku": sku, "declared_origin": declared}  # fmt: skip
    return {"type": "receipt", "facility": "ACME-TX", "occurred_at": "2026-11-02T00:00:00Z", "outputs": [output]}


@pytest.mark.parametrize(
    "query",
    [{}, {"on": "2027-01-01"}, {"on": "2026-12-31"}, {"on": "2027-01-10", "rules": "mofcom-61,dfars-7052"}],
)
def test_each_item_is_the_per_sku_rules_answer(demo: TestClient, query: dict[str, str]) -> None:
    for _ in ("worked out", "kept"):
        items = listed(demo, "/v1/compliance", **query)
        assert [item["sku"] for item in items] == DEMO_SKUS
        for item in items:
            assert item["results"] == per_sku_rules(demo, item["sku"], **query)
            assert item["organization"] == "ACME"
            path = item["answer_path"]
            on = query.get("on", datetime.now(UTC).date().isoformat())  # by default today's, as per SKU
            assert path.startswith(f"/v1/skus/{item['sku']}/compliance?on={on}")
            assert [r["rule"] for r in demo.get(path).json()["results"]] == [r["rule"] for r in item["results"]]


@pytest.mark.parametrize(
    "query", [{}, {"countries": "CN,RU", "stages": "refining"}, {"elements": "Dy,Tb", "threshold_percent": "1.5"}]
)
def test_each_item_is_the_per_sku_answer(demo: TestClient, query: dict[str, str]) -> None:
    for _ in ("worked out", "kept"):
        items = listed(demo, "/v1/origin", **query)
        assert [item["sku"] for item in items] == DEMO_SKUS
        for item in items:
            assert origin_of(item) == per_sku_origin(demo, item["sku"], **query)
            assert origin_of(item) == {field: demo.get(item["answer_path"]).json()[field] for field in ORIGIN_FIELDS}
    assert {item["answer"] for item in listed(demo, "/v1/origin")} == {"yes", "no", "unknown"}


def test_an_answer_changed_by_an_event_or_a_price_is_listed_changed(demo: TestClient) -> None:
    def servo(path: str, **query: str) -> dict[str, Any]:
        return next(item for item in listed(demo, path, **query) if item["sku"] == "SERVO-50")

    rules_before = servo("/v1/compliance", on="2027-01-01")
    origin_before = servo("/v1/origin")
    assert origin_before["answer"] == "no"
    post_ok(demo, "/v1/events", receipt("SERVO-50", "SRV-LATE-1", "CN"))
    rules_after = servo("/v1/compliance", on="2027-01-01")
    origin_after = servo("/v1/origin")
    assert origin_after["answer"] == "yes"
    assert origin_of(origin_after) == per_sku_origin(demo, "SERVO-50")
    assert rules_after["results"] != rules_before["results"]
    assert rules_after["results"] == per_sku_rules(demo, "SERVO-50", on="2027-01-01")

    by_value = {"on": "2027-01-10", "rules": "mofcom-61"}
    before = next(i for i in listed(demo, "/v1/compliance", **by_value) if i["sku"] == "EV-MOTOR-200")
    assert before["results"][0]["share_percent"] == "7.2"
    price = {"element": "Dy", "currency": "USD", "price_per_kg": "900", "valid_from": "2027-01-05"}
    post_ok(demo, "/v1/prices", price)
    after = next(i for i in listed(demo, "/v1/compliance", **by_value) if i["sku"] == "EV-MOTOR-200")
    assert after["results"][0]["share_percent"] == "14.4"
    assert after["results"] == per_sku_rules(demo, "EV-MOTOR-200", **by_value)


def test_a_kept_answer_is_served_until_the_skus_revision_changes(demo: TestClient, settings: Settings) -> None:
    """Proof that items come from the kept rows, and that a row of an older revision is never one."""
    listed(demo, "/v1/origin")
    engine = create_db_engine(settings)
    with engine.begin() as connection:
        kept = connection.execute(sa.text("SELECT count(*) FROM sku_answer")).scalar_one()
        assert kept == len(DEMO_SKUS)
        forged = '{"answer":"yes","share_percent":"99","unknown_percent":"0","total_kg":"1","lots_count":7}'
        connection.execute(sa.text("UPDATE sku_answer SET summary = :forged"), {"forged": forged})
    engine.dispose()
    assert next(i for i in listed(demo, "/v1/origin") if i["sku"] == "FAN-RC-3")["share_percent"] == "99"
    post_ok(demo, "/v1/events", receipt("FAN-RC-3", "FAN-LATE-1", "AU"))
    fan = next(i for i in listed(demo, "/v1/origin") if i["sku"] == "FAN-RC-3")
    assert origin_of(fan) == per_sku_origin(demo, "FAN-RC-3")
    assert fan["share_percent"] != "99"


def test_answers_kept_long_ago_go_when_their_skus_next_ones_are_kept(demo: TestClient, settings: Settings) -> None:
    listed(demo, "/v1/origin")
    kept = SQLModel.metadata.tables["sku_answer"]
    engine = create_db_engine(settings)
    with engine.begin() as connection:
        connection.execute(sa.update(kept).values(computed_at=datetime.now(UTC) - portfolio.KEEP_FOR * 2))
    listed(demo, "/v1/origin", countries="RU")
    with engine.begin() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(kept)).scalar_one() == len(DEMO_SKUS)
    engine.dispose()
    for item in listed(demo, "/v1/origin"):
        assert origin_of(item) == per_sku_origin(demo, item["sku"])


def more_skus(client: TestClient) -> None:
    """Seven more SKUs (no lots: unknown), their codes between the demo's, and one more of each answer."""
    for n in range(7):
        post_ok(client, "/v1/skus", {"sku": f"E-EXTRA-{n}", "name": f"Extra {n}", "organization": "ACME"})
    post_ok(client, "/v1/skus", {"sku": "A-YES", "name": "Yes", "organization": "ACME"})
    post_ok(client, "/v1/events", receipt("A-YES", "A-YES-1", "CN"))
    post_ok(client, "/v1/skus", {"sku": "Q-NO", "name": "No", "organization": "ACME"})
    post_ok(client, "/v1/events", receipt("Q-NO", "Q-NO-1", "AU"))


@pytest.mark.parametrize("limit", [1, 2, 3, 500])
def test_filtered_pages_hold_exactly_the_matching_skus_in_order(demo: TestClient, limit: int) -> None:
    more_skus(demo)
    everything = listed(demo, "/v1/origin", limit=500)
    codes = [item["sku"] for item in everything]
    assert codes == sorted(codes) == [item["sku"] for item in listed(demo, "/v1/skus", limit=500)]
    for answer in ("yes", "no", "unknown"):
        wanted = [item for item in everything if item["answer"] == answer]
        for _ in ("worked out", "kept"):
            assert listed(demo, "/v1/origin", answer=answer, limit=limit) == wanted
    demo.get("/v1/compliance", params={"on": "2027-01-01", "limit": 500})
    rules = listed(demo, "/v1/compliance", on="2027-01-01", limit=500)
    for answer in ("yes", "no", "unknown"):
        anyone = [item for item in rules if any(r["answer"] == answer for r in item["results"])]
        assert listed(demo, "/v1/compliance", on="2027-01-01", answer=answer, limit=limit) == anyone
        dfars = [i for i in rules if next(r for r in i["results"] if r["rule"] == "dfars-7052")["answer"] == answer]
        filtered = listed(demo, "/v1/compliance", on="2027-01-01", answer=answer, rule="dfars-7052", limit=limit)
        assert filtered == dfars


def test_a_page_works_out_a_bounded_number_of_answers(demo: TestClient, settings: Settings) -> None:
    """With a budget of two answers a page, a cold list of eleven SKUs comes two or fewer at a time, all of them."""
    more_skus(demo)
    engine = create_db_engine(settings)
    listing = portfolio.origin_listing(Question(), {})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        with transaction(engine, write=False) as session:
            found = portfolio.page(session, listing, 50, cursor, "unknown", misses=2)
        portfolio.remember(engine, found.remembered)
        assert len(found.remembered) <= 2
        seen += [json.loads(item)["sku"] for item in found.items]
        pages += 1
        cursor = found.next_cursor
        if cursor is None:
            break
    engine.dispose()
    assert pages >= 6
    assert seen == [item["sku"] for item in listed(demo, "/v1/origin", answer="unknown")]
    assert seen == ["E-EXTRA-0", "E-EXTRA-1", "E-EXTRA-2", "E-EXTRA-3", "E-EXTRA-4", "E-EXTRA-5", "E-EXTRA-6",
                    "PUMP-X9"]  # fmt: skip


def test_an_organizations_key_lists_what_it_lists_of_skus(demo: TestClient) -> None:
    post_ok(demo, "/v1/organizations", {"code": "BUYER", "name": "Buyer", "country": "DE"})
    post_ok(demo, "/v1/skus", {"sku": "BUYER-1", "name": "Buyer's own", "organization": "BUYER"})
    key = post_ok(demo, "/v1/api-keys", {"organization": "BUYER", "role": "viewer", "name": "portal"})["key"]
    skus = [item["sku"] for item in listed(demo, "/v1/skus", key=key, limit=2)]
    for path, query in (("/v1/compliance", {"on": "2027-01-01"}), ("/v1/origin", {})):
        items = listed(demo, path, key=key, limit=2, **query)
        assert [item["sku"] for item in items] == skus
        own = listed(demo, path, key=key, organization="buyer", **query)
        assert [(item["sku"], item["organization"]) for item in own] == [("BUYER-1", "BUYER")]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [("/v1/compliance", {"on": "2027-13-01"}, "on"), ("/v1/compliance", {"on": "tomorrow"}, "on"),
     ("/v1/compliance", {"rules": "no-such-rule"}, "rules"), ("/v1/compliance", {"answer": "maybe"}, "answer"),
     ("/v1/compliance", {"cursor": "not-a-cursor"}, "cursor"), ("/v1/compliance", {"cursor": "eyJhZnRlciI6MX0"},
                                                                 "cursor"),
     ("/v1/compliance", {"rule": "dfars-7052"}, "rule"), ("/v1/compliance", {"rule": "nope", "answer": "yes"}, "rule"),
     ("/v1/compliance", {"rules": "dfars-7052", "rule": "mofcom-18", "answer": "no"}, "rule"),
     ("/v1/compliance", {"limit": "0"}, "limit"), ("/v1/compliance", {"limit": "501"}, "limit"),
     ("/v1/origin", {"countries": "XX"}, "countries"), ("/v1/origin", {"stages": "mining,baking"}, "stages"),
     ("/v1/origin", {"threshold_percent": "101"}, "threshold_percent"), ("/v1/origin", {"elements": "REE"}, "elements"),
     ("/v1/origin", {"answer": "YES"}, "answer"), ("/v1/origin", {"cursor": "@@"}, "cursor"),
     ("/v1/origin", {"organization": "not a code"}, "organization")],
)  # fmt: skip
def test_bad_parameters_are_refused(demo: TestClient, path: str, query: dict[str, str], field: str) -> None:
    response = demo.get(path, params={"on": "2027-01-01"} | query if path == "/v1/compliance" else query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_an_empty_catalogue_is_an_empty_list(client: TestClient) -> None:
    for path in ("/v1/compliance", "/v1/origin"):
        assert client.get(path).json() == {"items": [], "next_cursor": None}
