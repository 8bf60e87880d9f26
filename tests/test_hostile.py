"""Hostile input, each case refused with its own 4xx problem and nothing recorded; never a 5xx.

One test id per case, so one regression names itself instead of hiding the cases after it.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import event, extract, make_chain

ORE_OUTPUT = {"code": "X", "material": "ore", "quantity": "1", "unit": "kg", "composition": {"Nd": "0.1"}}
ORE_INPUT = {"lot_code": "ORE", "organization": "MINER", "quantity": "0.001"}
JSON = "application/json"


def extraction_with(**output: Any) -> dict[str, Any]:
    return event("extraction", "MINE", outputs=[ORE_OUTPUT | output])


def extraction_many(n: int) -> dict[str, Any]:
    return event("extraction", "MINE", outputs=[ORE_OUTPUT | {"code": f"X{i}"} for i in range(n)])


def organization(**fields: Any) -> dict[str, Any]:
    return {"code": "NEW", "name": "New", "country": "DE"} | fields


@dataclass(frozen=True)
class Hostile:
    """One request and the refusal it must get: status, problem type and the field it names (None: no field)."""

    path: str
    status: int
    slug: str
    field: str | None
    send: dict[str, Any]  # keyword arguments of TestClient.request
    method: str = "POST"


def posted(case_id: str, path: str, body: Any, status: int, slug: str, field: str | None) -> Any:
    """A JSON body as httpx encodes it."""
    return pytest.param(Hostile(path, status, slug, field, {"json": body}), id=case_id)


def raw(
    case_id: str, path: str, content: bytes, status: int, slug: str, field: str | None, content_type: str = JSON
) -> Any:
    """Bytes sent as they are."""
    send = {"content": content, "headers": {"Content-Type": content_type}}
    return pytest.param(Hostile(path, status, slug, field, send), id=case_id)


def got(case_id: str, path: str, status: int, slug: str, field: str | None, **send: Any) -> Any:
    return pytest.param(Hostile(path, status, slug, field, send, method="GET"), id=case_id)


# Not positive first (refused as quantities, but 0 is a valid composition entry), then never decimals at all.
BAD_DECIMALS = ["0", "-1", "NaN", "Infinity", "-Infinity", "1e3", "1E3", "0x10", "1_000", "١٢", "1.0000000000001",
                "1234567890123456", "", " ", "1.", ".5", "+1", "--1", True, False, None, [], {}, "1/3"]  # fmt: skip
BAD_CODES = ["", "a" * 65, "bad code", "ü", "a/b", "a\nb", "a\u0000b", "<script>", "a;DROP TABLE lot"]
BAD_COUNTRIES = ["XX", "cn", "CHN", "12", "", "ZZ", "C", None, 86]
INVALID = "invalid"
EVENTS, ORGS = "/v1/events", "/v1/organizations"

BODIES = [
    *[posted(f"quantity={v!r}", EVENTS, extraction_with(quantity=v), 422, INVALID, "outputs.0.quantity")
      for v in BAD_DECIMALS],
    *[posted(f"composition={v!r}", EVENTS, extraction_with(composition={"Nd": v}), 422, INVALID,
             "outputs.0.composition.Nd") for v in BAD_DECIMALS[1:]],
    *[posted(f"code={v!r}", ORGS, organization(code=v), 422, INVALID, "code") for v in BAD_CODES],
    *[posted(f"lot code={v!r}", EVENTS, extraction_with(code=v), 422, INVALID, "outputs.0.code") for v in BAD_CODES],
    *[posted(f"country={v!r}", ORGS, organization(country=v), 422, INVALID, "country") for v in BAD_COUNTRIES],
    posted("1001 outputs", EVENTS, extraction_many(1001), 422, INVALID, "outputs"),
    posted("1001 inputs", EVENTS, event("processing", "MINE", inputs=[ORE_INPUT] * 1001, outputs=[ORE_OUTPUT]),
           422, INVALID, "inputs"),
    posted("name of 201 characters", ORGS, organization(name="n" * 201), 422, INVALID, "name"),
    posted("name with a NUL", ORGS, organization(name="a\u0000b"), 422, INVALID, "name"),
    posted("name with a control character", ORGS, organization(name="a\u0007b"), 422, INVALID, "name"),
    posted("a list", ORGS, [organization()], 422, INVALID, "body"),
    posted("a string", ORGS, "organization", 422, INVALID, "body"),
    posted("a number", ORGS, 42, 422, INVALID, "body"),
    # httpx sends no body at all for json=None, so JSON's null goes as bytes.
    raw("null", ORGS, b"null", 422, INVALID, "body"),
    posted("no body and no content type", ORGS, None, 422, INVALID, "body"),
    posted("unknown field", ORGS, organization(admin=True), 422, INVALID, "admin"),
    posted("outputs as an object", EVENTS, event("extraction", "MINE", outputs={"code": "X"}), 422, INVALID, "outputs"),
    posted("inputs as a string", EVENTS, event("processing", "MINE", inputs="ORE", outputs=[ORE_OUTPUT]),
           422, INVALID, "inputs"),
    posted("quantity as a list", EVENTS, extraction_with(quantity=["1"]), 422, INVALID, "outputs.0.quantity"),
    posted("composition as a list", EVENTS, extraction_with(composition=[["Nd", "1"]]), 422, INVALID,
           "outputs.0.composition"),
    posted("unknown element", EVENTS, extraction_with(composition={"Xx": "1"}), 422, INVALID,
           "outputs.0.composition.Xx"),
    posted("timestamp as a number", EVENTS, extraction_with() | {"occurred_at": 1_700_000_000}, 422, INVALID,
           "occurred_at"),
    posted("timestamp without offset", EVENTS, extraction_with() | {"occurred_at": "2025-06-01T00:00:00"}, 422,
           INVALID, "occurred_at"),
    posted("timestamp in year 0", EVENTS, extraction_with() | {"occurred_at": "0000-01-01T00:00:00Z"}, 422, INVALID,
           "occurred_at"),
    posted("unknown event type", EVENTS, extraction_with() | {"type": "teleport"}, 422, INVALID, "type"),
    posted("stage on an extraction", EVENTS, extraction_with() | {"stage": "refining"}, 422, INVALID, "stage"),
    raw("truncated JSON", ORGS, b'{"code": "NEW"', 400, "bad-request", None),
    raw("not UTF-8", ORGS, b'{"code": "\xff\xfe"}', 400, "bad-request", None),
    raw("single quotes", ORGS, b"{'code': 'NEW'}", 400, "bad-request", None),
    raw("deep arrays", ORGS, b"[" * 100_000 + b"]" * 100_000, 400, "bad-request", None),
    raw("deep objects", ORGS, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400, "bad-request", None),
    raw("NaN literal", ORGS, b'{"code": NaN, "name": "New", "country": "DE"}', 422, INVALID, "code"),
    raw("huge exponent", EVENTS, json.dumps(extraction_with()).replace('"1"', "1e400", 1).encode(), 422, INVALID,
        "outputs.0.quantity"),
    raw("form body", ORGS, b"code=NEW&name=New&country=DE", 422, INVALID, "body",
        "application/x-www-form-urlencoded"),
    raw("text body", ORGS, b"NEW", 422, INVALID, "body", "text/plain"),
    raw("empty body", ORGS, b"", 422, INVALID, "body"),
    raw("over 1 MiB", ORGS, b'{"name": "' + b"x" * (1024 * 1024) + b'"}', 413, "payload-too-large", None),
]  # fmt: skip

HEADERS_AND_QUERIES = [
    got("Bearer key of 10,000 characters", "/v1/lots", 401, "unauthorized", None,
        headers={"Authorization": "Bearer " + "k" * 10_000}),
    got("Basic credentials", "/v1/lots", 401, "unauthorized", None, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
    got("X-API-Key of 10,000 characters, empty Authorization", "/v1/lots", 401, "unauthorized", None,
        headers={"X-API-Key": "x" * 10_000, "Authorization": ""}),
    got("limit=-1", "/v1/lots", 422, INVALID, "limit", params={"limit": "-1"}),
    got("limit=1e2", "/v1/lots", 422, INVALID, "limit", params={"limit": "1e2"}),
    got("cursor=%%%", "/v1/lots", 422, INVALID, "cursor", params={"cursor": "%%%"}),
    got("lot code of 1000 characters", "/v1/lots", 422, INVALID, "code", params={"code": "a" * 1000}),
    got("threshold_percent=NaN", "/v1/skus/X/origin", 422, INVALID, "threshold_percent",
        params={"threshold_percent": "NaN"}),
    got("countries=CN,,", "/v1/skus/X/origin", 422, INVALID, "countries", params={"countries": "CN,,"}),
    got("produced_from=yesterday", "/v1/skus/X/origin", 422, INVALID, "produced_from",
        params={"produced_from": "yesterday"}),
    got("lot id of 5000 digits", "/v1/lots/" + "9" * 5000, 404, "not-found", None),
]  # fmt: skip


def snapshot(client: TestClient) -> dict[str, Any]:
    """Everything a refused request could have written: organizations, lots (with what remains) and the audit chain."""
    organizations = client.get("/v1/organizations", params={"limit": 500}).json()
    lots = client.get("/v1/lots", params={"limit": 500}).json()
    assert organizations["next_cursor"] is None
    assert lots["next_cursor"] is None
    return {
        "organizations": organizations["items"],
        "lots": lots["items"],
        "audit": client.get("/v1/audit/verify").json(),
    }


@pytest.fixture
def chain(client: TestClient) -> TestClient:
    make_chain(client)
    extract(client, "ORE", "10")
    return client


@pytest.mark.parametrize("hostile", [*BODIES, *HEADERS_AND_QUERIES])
def test_hostile_request_is_refused_and_records_nothing(chain: TestClient, hostile: Hostile) -> None:
    before = snapshot(chain)
    assert before["audit"]["ok"] is True
    assert before["audit"]["entries"] == 7  # the chain's six registrations and one extraction

    response = chain.request(hostile.method, hostile.path, **hostile.send)

    assert response.status_code == hostile.status, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"urn:lodestone:problem:{hostile.slug}", problem
    assert problem["status"] == hostile.status
    assert [e["field"] for e in problem.get("errors", [])] == ([hostile.field] if hostile.field else []), problem
    assert snapshot(chain) == before


def test_hostile_cases_have_distinct_ids() -> None:
    # pytest would quietly suffix a repeated id; a repeat here is a case written twice or a label lost.
    ids = [param.id for param in (*BODIES, *HEADERS_AND_QUERIES)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
