"""SKU answers sent again as remembered bytes: the same answer the routes give, and never a stale one."""

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.db import create_db_engine
from service.demo import SKUS, load_demo
from tests.conftest import serve_in_process
from tests.helpers import event, make_chain, post_ok

ROUTES = ["origin", "origin?countries=CN,RU&stages=mining,refining", "compliance?on=2027-01-01", "compliance"]


def _demo(settings: Settings) -> Settings:
    engine = create_db_engine(settings)
    assert load_demo(engine)
    engine.dispose()
    return settings.model_copy(update={"access_log": "all", "key_cache_seconds": 3600.0})


@pytest.fixture
def demo(settings: Settings) -> Iterator[TestClient]:
    yield from serve_in_process(_demo(settings))


def _keys(client: TestClient) -> dict[str, dict[str, str]]:
    """The operator, an auditor, and viewers of two organizations: they see different lots of the same SKU."""
    made = {
        name: post_ok(client, "/v1/api-keys", {"organization": org, "role": role, "name": name})["key"]
        for name, org, role in [
            ("auditor", "ACME", "auditor"),
            ("acme", "ACME", "viewer"),
            ("lynas", "LYNAS", "viewer"),
        ]
    }
    return {"operator": {}} | {name: {"Authorization": f"Bearer {key}"} for name, key in made.items()}


def _without_moment(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in answer.items() if name != "as_of"}


def _remembered(log: io.StringIO) -> list[bool]:
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    return [line.get("remembered", False) for line in lines if line["logger"] == "lodestone.access"]


def test_a_remembered_answer_is_the_answer_the_route_gives(
    demo: TestClient, settings: Settings, log_lines: io.StringIO
) -> None:
    keys = _keys(demo)
    for headers in keys.values():
        assert demo.get("/v1/skus", headers=headers).status_code == 200  # each key now trusted for reads
    # The same app with no key trusted for reads: every answer there goes through the route.
    for routed in serve_in_process(settings.model_copy(update={"key_cache_seconds": 0.0})):
        for sku, _name, _gtin in SKUS:
            for route in ROUTES:
                for who, headers in keys.items():
                    path = f"/v1/skus/{sku}/{route}"
                    log_lines.truncate(0)
                    log_lines.seek(0)
                    first, again = demo.get(path, headers=headers), demo.get(path, headers=headers)
                    assert first.status_code == again.status_code == 200, (path, who, first.text)
                    # The auditor sees what the operator sees, asked just before: the same bytes.
                    assert _remembered(log_lines) == [who == "auditor", True], (path, who)
                    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
                    assert int(again.headers["content-length"]) == len(again.content)
                    assert _without_moment(again.json()) == _without_moment(first.json())
                    assert again.json()["as_of"] >= first.json()["as_of"]
                    if who != "operator":
                        reference = routed.get(path, headers=headers)
                        assert _without_moment(reference.json()) == _without_moment(again.json()), (path, who)


def test_callers_who_see_different_lots_never_share_bytes(demo: TestClient) -> None:
    keys = _keys(demo)
    path = "/v1/skus/EV-MOTOR-200/origin"
    answers: dict[str, dict[str, Any]] = {}
    for _ in range(2):
        for who in ("lynas", "acme", "auditor"):
            answer = demo.get(path, headers=keys[who]).json()
            answers.setdefault(who, _without_moment(answer))
            assert _without_moment(answer) == answers[who]
    hidden = {who: sum(lot["id"] is None for lot in answer["lots"]) for who, answer in answers.items()}
    assert hidden["auditor"] == 0
    assert hidden["lynas"] != hidden["acme"] or answers["lynas"]["lots"] != answers["acme"]["lots"]


def test_an_answer_asked_as_of_a_moment_is_remembered_as_asked(demo: TestClient, log_lines: io.StringIO) -> None:
    moment = demo.get("/v1/skus/EV-MOTOR-200/origin").json()["as_of"]  # the demo's SKUs are registered today
    path = f"/v1/skus/EV-MOTOR-200/origin?as_of={moment}"
    first, again = demo.get(path), demo.get(path)
    assert first.status_code == 200, first.text
    assert _remembered(log_lines)[-2:] == [False, True]
    assert first.content == again.content
    assert again.json()["as_of"] == moment


def test_a_new_lot_of_the_sku_is_in_the_next_answer(demo: TestClient, log_lines: io.StringIO) -> None:
    path = "/v1/skus/SERVO-50/origin"
    before = [demo.get(path).json() for _ in range(2)][-1]
    assert _remembered(log_lines)[-1] is True
    post_ok(demo, "/v1/facilities", {"code": "CN-PLANT", "name": "Plant", "organization": "ACME", "country": "CN",
                                     "stages": ["manufacturing"]})  # fmt: skip
    mined = post_ok(demo, "/v1/events", {
        "type": "extraction", "facility": "BAYAN", "occurred_at": "2026-01-01T00:00:00Z",
        "outputs": [{"code": "NEW-ORE", "material": "ore", "quantity": "100", "unit": "kg",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip
    shipped = post_ok(demo, "/v1/events", {
        "type": "transfer", "facility": "BAYAN", "occurred_at": "2026-01-02T00:00:00Z",
        "inputs": [{"lot": mined["outputs"][0]["id"], "quantity": "100"}],
        "outputs": [{"code": "NEW-ORE-CN", "facility": "CN-PLANT"}],
    })  # fmt: skip
    post_ok(demo, "/v1/events", {
        "type": "processing", "facility": "CN-PLANT", "stage": "manufacturing", "occurred_at": "2026-01-03T00:00:00Z",
        "inputs": [{"lot": shipped["outputs"][0]["id"], "quantity": "100"}],
        "outputs": [{"code": "SERVO-NEW", "material": "product", "quantity": "10", "unit": "pcs", "sku": "SERVO-50",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip
    log_lines.truncate(0)
    log_lines.seek(0)
    after = demo.get(path).json()
    assert _remembered(log_lines) == [False]
    assert after["total_kg"] != before["total_kg"]
    assert "SERVO-NEW" in {lot["code"] for lot in after["lots"]}


def test_a_new_price_reaches_the_remembered_rules_answer(demo: TestClient, log_lines: io.StringIO) -> None:
    path = "/v1/skus/EV-MOTOR-200/compliance?on=2027-01-01"
    for _ in range(2):
        assert demo.get(path).status_code == 200
    assert _remembered(log_lines)[-1] is True
    prices = demo.get("/v1/prices").json()["items"]
    assert prices, "the demo has prices"
    price = prices[0]
    body = {name: price[name] for name in ("element", "currency")} | {"valid_from": "2026-12-01"}
    body["price_per_kg"] = str(Decimal(price["price_per_kg"]) + 1)
    post_ok(demo, "/v1/prices", body)
    log_lines.truncate(0)
    log_lines.seek(0)
    assert demo.get(path).status_code == 200
    assert _remembered(log_lines) == [False]


def test_a_listed_lot_shows_what_is_left_and_its_status_as_they_change(client: TestClient) -> None:
    """Lots are remembered as read by what may still change of them: a page never shows an old remainder."""
    make_chain(client)

    def listed() -> dict[str, tuple[str, str]]:
        page = client.get("/v1/lots", params={"limit": 500})
        assert page.status_code == 200, page.text
        return {lot["code"]: (lot["remaining"], lot["status"]) for lot in page.json()["items"]}

    output = {"code": "ORE-1", "material": "ore", "quantity": "100", "unit": "kg", "composition": {"Nd": "10"}}
    ore = post_ok(client, "/v1/events", event("extraction", "MINE", outputs=[output]))
    assert listed()["ORE-1"] == ("100", "active")
    assert listed()["ORE-1"] == ("100", "active")  # the second page from the lot remembered
    shipped = post_ok(client, "/v1/events", event("transfer", "MINE", day="2025-06-02",
        inputs=[{"lot": ore["outputs"][0]["id"], "quantity": "40"}],
        outputs=[{"code": "ORE-1-US", "facility": "PLANT"}]))  # fmt: skip
    after = listed()
    assert after["ORE-1"][0] == "60"
    assert after["ORE-1-US"][0] == "40"
    assert client.post(f"/v1/events/{shipped['id']}/void").status_code == 200
    voided = listed()
    assert voided["ORE-1"][0] == "100"
    assert voided["ORE-1-US"][1] == "voided"
