"""Hostile input, all refused with a 4xx problem and nothing recorded; never a 5xx."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import event, extract, make_chain

ORE_OUTPUT = {"code": "X", "material": "ore", "quantity": "1", "unit": "kg", "composition": {"Nd": "0.1"}}
ORE_INPUT = {"lot_code": "ORE", "organization": "MINER", "quantity": "0.001"}


def extraction_with(**output: Any) -> dict[str, Any]:
    return event("extraction", "MINE", outputs=[ORE_OUTPUT | output])


def extraction_many(n: int) -> dict[str, Any]:
    return event("extraction", "MINE", outputs=[ORE_OUTPUT | {"code": f"X{i}"} for i in range(n)])


def organization(**fields: Any) -> dict[str, Any]:
    return {"code": "NEW", "name": "New", "country": "DE"} | fields


# Not positive first (refused as quantities, but 0 is a valid composition entry), then never decimals at all.
BAD_DECIMALS = ["0", "-1", "NaN", "Infinity", "-Infinity", "1e3", "1E3", "0x10", "1_000", "١٢", "1.0000000000001",
                "1234567890123456", "", " ", "1.", ".5", "+1", "--1", True, False, None, [], {}, "1/3"]  # fmt: skip
BAD_CODES = ["", "a" * 65, "bad code", "ü", "a/b", "a\nb", "a\u0000b", "<script>", "a;DROP TABLE lot"]
BAD_COUNTRIES = ["XX", "cn", "CHN", "12", "", "ZZ", "C", None, 86]

JSON_CASES: list[tuple[str, str, Any]] = [
    *[("/v1/events", f"quantity={v!r}", extraction_with(quantity=v)) for v in BAD_DECIMALS],
    *[("/v1/events", f"composition={v!r}", extraction_with(composition={"Nd": v})) for v in BAD_DECIMALS[1:]],
    *[("/v1/organizations", f"code={v!r}", organization(code=v)) for v in BAD_CODES],
    *[("/v1/events", f"lot code={v!r}", extraction_with(code=v)) for v in BAD_CODES],
    *[("/v1/organizations", f"country={v!r}", organization(country=v)) for v in BAD_COUNTRIES],
    ("/v1/events", "1001 outputs", extraction_many(1001)),
    ("/v1/events", "1001 inputs", event("processing", "MINE", inputs=[ORE_INPUT] * 1001, outputs=[ORE_OUTPUT])),
    ("/v1/organizations", "name of 201 characters", organization(name="n" * 201)),
    ("/v1/organizations", "name with a NUL", organization(name="a\u0000b")),
    ("/v1/organizations", "name with a control character", organization(name="a\u0007b")),
    ("/v1/organizations", "a list", [organization()]),
    ("/v1/organizations", "a string", "organization"),
    ("/v1/organizations", "a number", 42),
    ("/v1/organizations", "null", None),
    ("/v1/organizations", "unknown field", organization(admin=True)),
    ("/v1/events", "outputs as an object", event("extraction", "MINE", outputs={"code": "X"})),
    ("/v1/events", "inputs as a string", event("processing", "MINE", inputs="ORE", outputs=[ORE_OUTPUT])),
    ("/v1/events", "quantity as a list", extraction_with(quantity=["1"])),
    ("/v1/events", "composition as a list", extraction_with(composition=[["Nd", "1"]])),
    ("/v1/events", "unknown element", extraction_with(composition={"Xx": "1"})),
    ("/v1/events", "timestamp as a number", extraction_with() | {"occurred_at": 1_700_000_000}),
    ("/v1/events", "timestamp without offset", extraction_with() | {"occurred_at": "2025-06-01T00:00:00"}),
    ("/v1/events", "timestamp in year 0", extraction_with() | {"occurred_at": "0000-01-01T00:00:00Z"}),
    ("/v1/events", "unknown event type", extraction_with() | {"type": "teleport"}),
    ("/v1/events", "stage on an extraction", extraction_with() | {"stage": "refining"}),
]  # fmt: skip

JSON = "application/json"
RAW_CASES: list[tuple[str, str, bytes, str]] = [
    ("/v1/organizations", "truncated JSON", b'{"code": "NEW"', "application/json"),
    ("/v1/organizations", "not UTF-8", b'{"code": "\xff\xfe"}', "application/json"),
    ("/v1/organizations", "single quotes", b"{'code': 'NEW'}", "application/json"),
    ("/v1/organizations", "deep arrays", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("/v1/organizations", "deep objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    ("/v1/organizations", "NaN literal", b'{"code": NaN}', "application/json"),
    ("/v1/events", "huge exponent", json.dumps(extraction_with()).replace('"1"', "1e400", 1).encode(), JSON),
    ("/v1/organizations", "form body", b"code=NEW&name=New&country=DE", "application/x-www-form-urlencoded"),
    ("/v1/organizations", "text body", b"NEW", "text/plain"),
    ("/v1/organizations", "empty body", b"", "application/json"),
    ("/v1/organizations", "over 1 MiB", b'{"name": "' + b"x" * (1024 * 1024) + b'"}', "application/json"),
]  # fmt: skip


def snapshot(client: TestClient) -> tuple[int, int, int]:
    return (
        len(client.get("/v1/organizations", params={"limit": 500}).json()["items"]),
        len(client.get("/v1/lots", params={"limit": 500}).json()["items"]),
        client.get("/v1/audit/verify").json()["entries"],
    )


@pytest.fixture
def chain(client: TestClient) -> TestClient:
    make_chain(client)
    extract(client, "ORE", "10")
    return client


def assert_refused(client: TestClient, response: Any, case: str) -> None:
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json", case
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem), case


def test_hostile_bodies_are_refused_and_record_nothing(chain: TestClient) -> None:
    before = snapshot(chain)
    tried = 0
    for path, case, body in JSON_CASES:
        assert_refused(chain, chain.post(path, json=body), case)
        tried += 1
    for path, case, raw, content_type in RAW_CASES:
        assert_refused(chain, chain.post(path, content=raw, headers={"Content-Type": content_type}), case)
        tried += 1
    assert snapshot(chain) == before
    assert tried == len(JSON_CASES) + len(RAW_CASES)
    print(f"hostile: {tried} bodies tried, 0 answered 5xx, nothing recorded")


def test_hostile_headers_and_queries(chain: TestClient) -> None:
    cases = [
        ("GET", "/v1/lots", {"Authorization": "Bearer " + "k" * 10_000}, {}),
        ("GET", "/v1/lots", {"Authorization": "Basic dXNlcjpwYXNz"}, {}),
        ("GET", "/v1/lots", {"X-API-Key": "x" * 10_000, "Authorization": ""}, {}),
        ("GET", "/v1/lots", {}, {"limit": "-1"}),
        ("GET", "/v1/lots", {}, {"limit": "1e2"}),
        ("GET", "/v1/lots", {}, {"cursor": "%%%"}),
        ("GET", "/v1/lots", {}, {"code": "a" * 1000}),
        ("GET", "/v1/skus/X/origin", {}, {"threshold_percent": "NaN"}),
        ("GET", "/v1/skus/X/origin", {}, {"countries": "CN,,"}),
        ("GET", "/v1/skus/X/origin", {}, {"produced_from": "yesterday"}),
        ("GET", "/v1/lots/" + "9" * 5000, {}, {}),
    ]
    for method, path, headers, params in cases:
        response = chain.request(method, path, headers=headers, params=params)
        assert 400 <= response.status_code < 500, (path, headers.keys(), params, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
