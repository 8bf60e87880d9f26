"""Strict input (issue 12): each lenient reading a security review found, now refused."""

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.config import Settings
from service.db import create_db_engine
from service.migrations import upgrade
from tests.helpers import event, extract, make_chain, post_ok


def _refused(response: object, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    if status == 422:
        fields = [e["field"] for e in response.json()["errors"]]  # type: ignore[attr-defined]
        assert field in fields, response.text  # type: ignore[attr-defined]


def _lots(client: TestClient) -> int:
    return len(client.get("/v1/lots", params={"limit": 200}).json()["items"])


# ------------------------------------------------------------------------------------------- decimals


@pytest.mark.parametrize("quantity", [" 5 ", "5\n", "\t5", "5 ", "+5", "5e0", "0x5", "５"])
def test_a_quantity_is_a_plain_decimal_without_whitespace(client: TestClient, quantity: str) -> None:
    make_chain(client)
    body = event(
        "extraction",
        "MINE",
        outputs=[{"code": "ORE-1", "material": "ore", "quantity": quantity, "unit": "kg", "composition": {"Nd": "1"}}],
    )
    _refused(client.post("/v1/events", json=body), "outputs.0.quantity")
    assert _lots(client) == 0


def test_compositions_and_thresholds_are_plain_decimals_too(client: TestClient) -> None:
    make_chain(client)
    body = event(
        "extraction",
        "MINE",
        outputs=[{"code": "ORE-1", "material": "ore", "quantity": "5", "unit": "kg", "composition": {"Nd": "1 "}}],
    )
    _refused(client.post("/v1/events", json=body), "outputs.0.composition.Nd")
    extract(client, "ORE-1")
    lot = client.get("/v1/lots", params={"code": "ORE-1"}).json()["items"][0]["id"]
    _refused(client.get(f"/v1/lots/{lot}/origin", params={"threshold_percent": " 5"}), "threshold_percent")
    _refused(client.get(f"/v1/lots/{lot}/origin", params={"threshold_percent": "5\n"}), "threshold_percent")
    assert client.get(f"/v1/lots/{lot}/origin", params={"threshold_percent": "5"}).status_code == 200


def test_json_numbers_are_still_decimals(client: TestClient) -> None:
    make_chain(client)
    body = event(
        "extraction",
        "MINE",
        outputs=[{"code": "ORE-1", "material": "ore", "quantity": 5.25, "unit": "kg", "composition": {"Nd": 1}}],
    )
    assert post_ok(client, "/v1/events", body)["outputs"][0]["quantity"] == "5.25"


# ------------------------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    "occurred_at",
    [
        "1743465600",
        1743465600,
        "2025-06-01",
        "2025-06-01T00:00Z",
        "2025-06-01T00:00:00",
        "2025-06-01 00:00:00Z",
        "2025-06-01t00:00:00Z",
        "2025-06-01T00:00:00z",
        " 2025-06-01T00:00:00Z",
        "2025-06-01T00:00:00Z\n",
        "2025-06-01T00:00:00+0000",
    ],
)
def test_a_timestamp_is_rfc_3339_with_seconds_and_an_offset(client: TestClient, occurred_at: object) -> None:
    make_chain(client)
    body = event(
        "extraction",
        "MINE",
        outputs=[{"code": "ORE-1", "material": "ore", "quantity": "5", "unit": "kg", "composition": {"Nd": "1"}}],
    )
    body["occurred_at"] = occurred_at
    _refused(client.post("/v1/events", json=body), "occurred_at")
    assert _lots(client) == 0


def test_rfc_3339_timestamps_are_accepted_with_any_offset_and_fraction(client: TestClient) -> None:
    make_chain(client)
    for n, moment in enumerate(["2025-06-01T02:00:00+02:00", "2025-06-01T00:00:00.5Z", "2025-06-01T00:00:00-00:30"]):
        body = event(
            "extraction",
            "MINE",
            outputs=[
                {"code": f"ORE-{n}", "material": "ore", "quantity": "5", "unit": "kg", "composition": {"Nd": "1"}}
            ],
        )
        body["occurred_at"] = moment
        post_ok(client, "/v1/events", body)


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/skus/WIDGET/origin", "produced_from"),
        ("/v1/skus/WIDGET/origin", "as_of"),
        ("/v1/audit", "since"),
    ],
)
def test_query_timestamps_are_rfc_3339_only(client: TestClient, path: str, parameter: str) -> None:
    make_chain(client)
    for value in ("1743465600", "2025-06-01", "2025-06-01T00:00:00"):
        _refused(client.get(path, params={parameter: value}), parameter)
    assert client.get(path, params={parameter: "2025-06-01T00:00:00Z"}).status_code in (200, 404)


# ------------------------------------------------------------------------------------- repeated keys


def test_a_repeated_key_at_the_top_is_refused(client: TestClient) -> None:
    body = '{"code": "ALPHA", "name": "Alpha", "country": "AU", "code": "BRAVO"}'
    response = client.post("/v1/organizations", content=body, headers={"Content-Type": "application/json"})
    _refused(response, "code")
    assert client.get("/v1/organizations").json()["items"] == []


def test_a_repeated_key_deep_inside_is_refused_naming_its_place(client: TestClient) -> None:
    make_chain(client)
    body = json.dumps(
        event(
            "extraction",
            "MINE",
            outputs=[{"code": "ORE-1", "material": "ore", "unit": "kg", "composition": {"Nd": "1"}}],
        )
    )
    body = body.replace('"unit": "kg"', '"quantity": "1", "unit": "kg", "quantity": "999999999"')
    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    _refused(response, "outputs.0.quantity")
    assert _lots(client) == 0


# -------------------------------------------------------------------------------------- codes and GTINs


def test_codes_are_unique_without_regard_to_case_and_found_either_way(client: TestClient) -> None:
    make_chain(client)
    conflicts = [
        ("/v1/organizations", {"code": "maker", "name": "Another", "country": "US"}),
        ("/v1/facilities", {"code": "Plant", "name": "P", "organization": "MAKER", "country": "US", "stages": []}),
        ("/v1/skus", {"sku": "widget", "name": "Widget", "organization": "MAKER"}),
    ]
    for path, body in conflicts:
        _refused(client.post(path, json=body), "", status=409)
    assert client.get("/v1/organizations/maker").json()["code"] == "MAKER"
    assert client.get("/v1/facilities/plant").json()["code"] == "PLANT"
    assert client.get("/v1/skus/widget").json()["sku"] == "WIDGET"
    assert client.get("/v1/skus/wIdGeT/origin").status_code == 200
    assert client.get("/v1/skus/widget/compliance").status_code == 200
    assert len(client.get("/v1/facilities", params={"organization": "miner"}).json()["items"]) == 2


def test_lot_codes_are_unique_within_an_organization_without_regard_to_case(client: TestClient) -> None:
    make_chain(client)
    extract(client, "ORE-1")
    body = event(
        "extraction",
        "MINE",
        outputs=[{"code": "ore-1", "material": "ore", "quantity": "5", "unit": "kg", "composition": {"Nd": "1"}}],
    )
    assert client.post("/v1/events", json=body).status_code == 409
    assert _lots(client) == 1
    assert len(client.get("/v1/lots", params={"code": "ore-1", "organization": "miner"}).json()["items"]) == 1


def test_a_gtin_belongs_to_one_sku(client: TestClient) -> None:
    make_chain(client)
    post_ok(client, "/v1/skus", {"sku": "ONE", "name": "One", "organization": "MAKER", "gtin": "4006381333931"})
    second = {"sku": "TWO", "name": "Two", "organization": "MAKER", "gtin": "4006381333931"}
    _refused(client.post("/v1/skus", json=second), "", status=409)
    assert client.get("/v1/skus/TWO").status_code == 404
    post_ok(client, "/v1/skus", {"sku": "THREE", "name": "Three", "organization": "MAKER"})  # no GTIN: many may


def test_the_migration_names_codes_that_differ_only_in_case(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path}/old.db"))
    upgrade(engine, "0008")
    with engine.begin() as connection:
        for code in ("BRAVO", "bravo"):
            connection.execute(
                sa.text("INSERT INTO organization (code, name, country, created_at) VALUES (:c, 'B', 'AU', :t)"),
                {"c": code, "t": "2025-01-01T00:00:00.000000Z"},
            )
    with pytest.raises(RuntimeError, match="'BRAVO' and 'bravo'"):
        upgrade(engine, "0009")
    engine.dispose()


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200f", "\ufeff", "\u2060"])
def test_names_refuse_bidirectional_and_invisible_characters(client: TestClient, char: str) -> None:
    make_chain(client)
    name = f"Evil{char}Corp"
    _refused(client.post("/v1/organizations", json={"code": "EVIL", "name": name, "country": "AU"}), "name")
    body = {"code": "F", "name": name, "organization": "MAKER", "country": "US", "stages": []}
    _refused(client.post("/v1/facilities", json=body), "name")
    _refused(client.post("/v1/skus", json={"sku": "S", "name": name, "organization": "MAKER"}), "name")
    body = {"organization": "MAKER", "role": "viewer", "name": name}
    _refused(client.post("/v1/api-keys", json=body), "name")


def test_names_keep_letters_of_every_script(client: TestClient) -> None:
    post_ok(client, "/v1/organizations", {"code": "ZH", "name": "包头稀土 مصنع Ünïcode", "country": "CN"})


# ---------------------------------------------------------------------------------------------- pages


@pytest.mark.parametrize("path", ["/contract/", "/contract/API.md", "/contract/rules.json", "/docs", "/redoc"])
def test_pages_are_not_sniffed_and_carry_a_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "'unsafe-eval'" not in policy
    scripts = policy.partition("script-src")[2].split(";")[0]  # none at all on the contract's pages
    assert "'unsafe-inline'" not in scripts
    if path == "/docs":
        assert "'sha256-" in scripts  # Swagger UI's one inline script, by its hash


def test_disclosure_pages_and_csv_are_not_sniffed(client: TestClient) -> None:
    make_chain(client)
    for accept in ("text/html", "text/csv"):
        response = client.get("/v1/skus/WIDGET/disclosure", headers={"Accept": accept})
        assert response.status_code == 200, response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    report = client.get("/v1/skus/WIDGET/report", headers={"Accept": "text/html"})
    assert report.headers["x-content-type-options"] == "nosniff"


def test_events_name_facilities_skus_organizations_and_lots_in_any_case(client: TestClient) -> None:
    """Codes are found without regard to case in events too, and a lot code taken in one case is taken in all."""
    post_ok(client, "/v1/organizations", {"code": "ACME", "name": "Acme", "country": "US"})
    post_ok(client, "/v1/facilities", {"code": "MINE", "name": "Mine", "organization": "ACME", "country": "AU",
                                       "stages": ["mining", "manufacturing"]})  # fmt: skip
    post_ok(client, "/v1/skus", {"sku": "WIDGET", "name": "Widget", "organization": "ACME"})
    ore = {"code": "Ore-1", "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}
    post_ok(client, "/v1/events", {"type": "extraction", "facility": "mine", "occurred_at": "2025-06-01T00:00:00Z",
                                   "outputs": [ore]})  # fmt: skip
    made = {"type": "processing", "facility": "Mine", "stage": "manufacturing", "occurred_at": "2025-06-02T00:00:00Z",
            "inputs": [{"lot_code": "ORE-1", "organization": "acme", "quantity": "10"}],
            "outputs": [{"code": "P-1", "material": "product", "quantity": "1", "unit": "pcs",
                         "sku": "widget"}]}  # fmt: skip
    recorded = post_ok(client, "/v1/events", made)
    assert recorded["outputs"][0]["code"] == "P-1"
    assert client.get("/v1/skus/WIDGET/origin").json()["lots_count"] == 1
    again = {"type": "extraction", "facility": "MINE", "occurred_at": "2025-06-01T00:00:00Z",
             "outputs": [ore | {"code": "ore-1"}]}  # fmt: skip
    taken = client.post("/v1/events", json=again)
    assert taken.status_code == 409
    assert "already used" in taken.json()["detail"]
