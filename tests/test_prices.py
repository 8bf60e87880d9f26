"""Element prices: admins record them by date, anyone lists them, `on` picks the one in effect."""

import json
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.contract import CONTRACT_DIR
from tests.helpers import post_ok


def price(element: str, currency: str, per_kg: str, valid_from: str, **extra: Any) -> dict[str, Any]:
    return {"element": element, "currency": currency, "price_per_kg": per_kg, "valid_from": valid_from, **extra}


def listed(client: TestClient, **query: str) -> list[tuple[str, str, str, str]]:
    response = client.get("/v1/prices", params=query)
    assert response.status_code == 200, response.text
    return [(p["element"], p["currency"], p["price_per_kg"], p["valid_from"]) for p in response.json()["items"]]


def test_a_price_is_recorded_read_back_and_audited(client: TestClient) -> None:
    created = post_ok(client, "/v1/prices", price("Dy", "USD", "250.50", "2026-06-01", source="worked example"))
    assert created == {"element": "Dy", "currency": "USD", "price_per_kg": "250.5", "valid_from": "2026-06-01",
                       "source": "worked example", "created_at": created["created_at"]}  # fmt: skip
    assert listed(client) == [("Dy", "USD", "250.5", "2026-06-01")]
    assert client.get("/v1/prices").json()["items"][0]["source"] == "worked example"
    entries = client.get("/v1/audit", params={"action": "price.recorded"}).json()["items"]
    assert [entry["subject"] for entry in entries] == ["Dy/USD/2026-06-01"]


def test_the_same_element_currency_and_date_twice_is_409(client: TestClient) -> None:
    post_ok(client, "/v1/prices", price("Dy", "EUR", "250", "2026-01-01"))
    response = client.post("/v1/prices", json=price("Dy", "EUR", "260", "2026-01-01"))
    assert response.status_code == 409
    assert [error["field"] for error in response.json()["errors"]] == ["valid_from"]
    post_ok(client, "/v1/prices", price("Dy", "USD", "260", "2026-01-01"))
    post_ok(client, "/v1/prices", price("Tb", "EUR", "260", "2026-01-01"))
    post_ok(client, "/v1/prices", price("Dy", "EUR", "260", "2026-01-02"))
    assert len(listed(client)) == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (price("REE", "EUR", "100", "2026-01-01"), "element"),
        (price("Xx", "EUR", "100", "2026-01-01"), "element"),
        (price("Tb", "EUR", "0", "2026-01-01"), "price_per_kg"),
        (price("Tb", "EUR", "-3", "2026-01-01"), "price_per_kg"),
        (price("Tb", "EUR", "1e3", "2026-01-01"), "price_per_kg"),
        (price("Tb", "eur", "1000", "2026-01-01"), "currency"),
        (price("Tb", "XYZ", "1000", "2026-01-01"), "currency"),
        (price("Tb", "DEM", "1000", "2026-01-01"), "currency"),
        (price("Tb", "EUR", "1000", "2026-02-30"), "valid_from"),
        (price("Tb", "EUR", "1000", "2026-01-01T00:00:00Z"), "valid_from"),
        (price("Tb", "EUR", "1000", 1767225600), "valid_from"),  # type: ignore[arg-type]
        ({"element": "Tb", "currency": "EUR", "price_per_kg": "1000"}, "valid_from"),
        (price("Tb", "EUR", "1000", "2026-01-01", note="x"), "note"),
    ],
)
def test_a_bad_price_is_422_naming_the_field_and_records_nothing(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/prices", json=body)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]
    assert listed(client) == []
    assert client.get("/v1/audit", params={"action": "price.recorded"}).json()["items"] == []


def test_on_picks_the_price_in_effect_for_each_element_and_currency(client: TestClient) -> None:
    for body in (
        price("Dy", "EUR", "250", "2026-01-01"),
        price("Dy", "EUR", "400", "2027-01-10"),
        price("Dy", "USD", "300", "2026-06-01"),
        price("Tb", "EUR", "1200", "2025-01-01"),
    ):
        post_ok(client, "/v1/prices", body)
    assert listed(client, element="Dy", currency="EUR", on="2025-12-31") == []
    assert listed(client, element="Dy", currency="EUR", on="2026-01-01") == [("Dy", "EUR", "250", "2026-01-01")]
    assert listed(client, element="Dy", currency="EUR", on="2027-01-09") == [("Dy", "EUR", "250", "2026-01-01")]
    assert listed(client, element="Dy", currency="EUR", on="2027-01-10") == [("Dy", "EUR", "400", "2027-01-10")]
    assert sorted(listed(client, on="2027-01-10")) == [
        ("Dy", "EUR", "400", "2027-01-10"),
        ("Dy", "USD", "300", "2026-06-01"),
        ("Tb", "EUR", "1200", "2025-01-01"),
    ]
    assert sorted(listed(client, currency="EUR", on="2026-03-01")) == [
        ("Dy", "EUR", "250", "2026-01-01"),
        ("Tb", "EUR", "1200", "2025-01-01"),
    ]
    assert listed(client, element="Tb") == [("Tb", "EUR", "1200", "2025-01-01")]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"element": "REE"}, "element"), ({"on": "2026-13-01"}, "on"), ({"currency": "usd"}, "currency")],
)
def test_a_bad_filter_is_422(client: TestClient, query: dict[str, str], field: str) -> None:
    response = client.get("/v1/prices", params=query)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


def test_prices_are_paginated(client: TestClient) -> None:
    for day in range(1, 6):
        post_ok(client, "/v1/prices", price("Nd", "CNY", str(day), f"2026-01-0{day}"))
    first = client.get("/v1/prices", params={"limit": 2}).json()
    assert [p["price_per_kg"] for p in first["items"]] == ["1", "2"]
    rest = client.get("/v1/prices", params={"limit": 10, "cursor": first["next_cursor"]}).json()
    assert [p["price_per_kg"] for p in rest["items"]] == ["3", "4", "5"]
    assert rest["next_cursor"] is None
    assert client.get("/v1/prices", params={"cursor": "nonsense"}).status_code == 422


def test_a_non_admin_key_may_list_prices_but_not_record_them(client: TestClient) -> None:
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
    for role in ("recorder", "auditor", "viewer"):
        key = post_ok(client, "/v1/api-keys", {"organization": "ORG", "role": role, "name": role})["key"]
        headers = {"Authorization": f"Bearer {key}"}
        refused = client.post("/v1/prices", json=price("Dy", "USD", "250", "2026-06-01"), headers=headers)
        assert refused.status_code == 403, role
        assert client.get("/v1/prices", headers=headers).status_code == 200
    assert listed(client) == []


def test_a_retried_post_with_the_same_idempotency_key_records_once(client: TestClient) -> None:
    body = price("Sm", "USD", "20", "2027-01-01")
    headers = {"Idempotency-Key": "price-sm-2027"}
    first = client.post("/v1/prices", json=body, headers=headers)
    again = client.post("/v1/prices", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert listed(client) == [("Sm", "USD", "20", "2027-01-01")]


@pytest.mark.parametrize("name", ["14-rules-value", "15-rules-dates"])
def test_the_vectors_price_steps(client: TestClient, name: str) -> None:
    """The `price` and `prices` steps of the contract's worked examples, on their own (the rest awaits compliance)."""
    steps = json.loads((CONTRACT_DIR / "vectors" / f"{name}.json").read_text())["steps"]
    replayed = 0
    for step in steps:
        if "price" in step:
            response = client.post("/v1/prices", json=step["price"])
            assert response.status_code == step["expect"]["status"], (step, response.text)
        elif "prices" in step:
            response = client.get("/v1/prices", params=step["prices"])
            assert response.status_code == step["expect"]["status"]
            got = {
                (p["element"], p["currency"], Decimal(p["price_per_kg"]), p["valid_from"])
                for p in response.json()["items"]
            }
            want = {
                (p["element"], p["currency"], Decimal(p["price_per_kg"]), p["valid_from"])
                for p in step["expect"]["items"]
            }
            assert got == want, step
        else:
            continue
        replayed += 1
    assert replayed >= 9
