"""Every refusal of the contract (API.md, ORIGIN.md) through HTTP: its status, its problem details, nothing recorded."""

import base64
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from service.app import create_app
from service.config import Settings
from tests.conftest import ADMIN_KEY

JSON = dict[str, Any]
PROBLEM_JSON = "application/problem+json"
MIB = 1024 * 1024

ORG, OTHER_ORG = "ORG", "OTHER"
MINE, REFINERY = "MINE", "REFINERY"
ORE, SKU = "ORE-1", "SKU-1"
EARLIER, T0, T1 = "2025-05-31T00:00:00Z", "2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"
ORE_COMPOSITION = {"Nd": "100", "Pr": "50"}
MISSING_ID = str(uuid.uuid4())

POST_ROUTES = ("/v1/organizations", "/v1/facilities", "/v1/skus", "/v1/events")
LIST_ROUTES = ("/v1/organizations", "/v1/facilities", "/v1/skus", "/v1/lots")
ORIGIN_ROUTES = ("/v1/lots/{lot}/origin", f"/v1/skus/{SKU}/origin")


# Problems and snapshots -----------------------------------------------------------------------


def assert_problem(response: Response, status: int, field: str | tuple[str, ...] | None = None) -> JSON:
    """An RFC 9457 problem with this status; ``field`` (or one of several) is named in ``errors``, or a parent of it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM_JSON, response.headers
    body: JSON = response.json()
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str), (key, body)
        assert body[key], (key, body)
    assert body["status"] == status, body
    if status == 422:
        assert isinstance(body.get("errors"), list), body
        assert body["errors"], body
        for error in body["errors"]:
            assert isinstance(error.get("field"), str), body
            assert isinstance(error.get("message"), str), body
    if field is not None:
        wanted = (field,) if isinstance(field, str) else field
        named = [error["field"] for error in body.get("errors") or []]
        assert any(name == w or name.startswith(f"{w}.") for name in named for w in wanted), (wanted, body)
    return body


def listing(client: TestClient, path: str) -> list[JSON]:
    items: list[JSON] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def snapshot(client: TestClient) -> dict[str, list[JSON]]:
    """Everything a refused request could have changed: every organization, facility, SKU and lot as read back."""
    return {path: listing(client, path) for path in LIST_ROUTES}


def refused(
    client: TestClient,
    method: str,
    path: str,
    status: int,
    field: str | tuple[str, ...] | None = None,
    *,
    via: TestClient | None = None,
    **request: Any,
) -> JSON:
    """Send a request that must be refused; check the problem and that nothing changed (read back as admin)."""
    before = snapshot(client)
    response = (via or client).request(method, path, **request)
    problem = assert_problem(response, status, field)
    assert snapshot(client) == before, "a refused request changed something"
    return problem


def refused_event(client: TestClient, body: Any, status: int, field: str | tuple[str, ...] | None = None) -> JSON:
    return refused(client, "POST", "/v1/events", status, field, json=body)


# Building a small chain -----------------------------------------------------------------------


def created(response: Response) -> JSON:
    assert response.status_code == 201, response.text
    body: JSON = response.json()
    return body


def add_organization(client: TestClient, code: str = ORG, country: str = "AU") -> JSON:
    return created(client.post("/v1/organizations", json={"code": code, "name": f"{code} Ltd", "country": country}))


def add_facility(
    client: TestClient, code: str, stages: list[str], country: str = "AU", organization: str = ORG
) -> JSON:
    body = {"code": code, "name": f"{code} site", "organization": organization, "country": country, "stages": stages}
    return created(client.post("/v1/facilities", json=body))


def add_sku(client: TestClient, sku: str = SKU, organization: str = ORG) -> JSON:
    return created(client.post("/v1/skus", json={"sku": sku, "name": f"{sku} motor", "organization": organization}))


def out(code: str, material: str = "oxide", quantity: Any = "1000", unit: str = "kg", **fields: Any) -> JSON:
    return {"code": code, "material": material, "quantity": quantity, "unit": unit, **fields}


def event(
    kind: str, facility: str, outputs: Iterable[JSON], inputs: Iterable[JSON] = (), at: str = T1, **fields: Any
) -> JSON:
    body: JSON = {"type": kind, "facility": facility, "occurred_at": at, "outputs": list(outputs), **fields}
    if inputs:
        body["inputs"] = list(inputs)
    return body


def take(lot: JSON, quantity: Any) -> JSON:
    return {"lot": lot["id"], "quantity": quantity}


def extraction(code: str = ORE, facility: str = MINE, composition: JSON | None = None, **fields: Any) -> JSON:
    """An extraction body: 1000 kg of concentrate holding 100 kg Nd and 50 kg Pr unless told otherwise."""
    output = out(code, "concentrate", "1000", composition=ORE_COMPOSITION if composition is None else composition)
    return event("extraction", facility, [output], at=T0) | fields


def processing(facility: str, inputs: Iterable[JSON], outputs: Iterable[JSON], **fields: Any) -> JSON:
    return event("processing", facility, outputs, inputs, **fields)


def transfer(lot: JSON, to: str, code: str = "SHIPPED-1", quantity: Any = None, **fields: Any) -> JSON:
    output: JSON = {"code": code, "facility": to, **fields}
    return event("transfer", lot["facility"], [output], [take(lot, quantity or lot["remaining"])])


def record(client: TestClient, body: JSON) -> JSON:
    return created(client.post("/v1/events", json=body))


def extract(client: TestClient, code: str = ORE, composition: JSON | None = None) -> JSON:
    """The lot an extraction at the mine makes."""
    lot: JSON = record(client, extraction(code, composition=composition))["outputs"][0]
    return lot


def receive(client: TestClient, output: JSON, facility: str = MINE) -> JSON:
    lot: JSON = record(client, event("receipt", facility, [output], at=T0))["outputs"][0]
    return lot


def read_lot(client: TestClient, lot: JSON) -> JSON:
    response = client.get(f"/v1/lots/{lot['id']}")
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    return body


@pytest.fixture
def ore(client: TestClient) -> JSON:
    """The minimal chain: an organization, a mine (AU), a refinery (MY), and the ore lot extracted at the mine."""
    add_organization(client)
    add_facility(client, MINE, ["mining"], "AU")
    add_facility(client, REFINERY, ["refining"], "MY")
    return extract(client)


@pytest.fixture
def anonymous(settings: Settings) -> Iterator[TestClient]:
    """The same service and database, with no credentials by default."""
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.engine.dispose()


# 400: unreadable body -------------------------------------------------------------------------

UNREADABLE = {
    "invalid": b"{code: ORG}",
    "truncated": b'{"code": "ORG", "name": "Org", "coun',
    "deeply-nested": b"[" * 100_000,
    "deeply-nested-object": b'{"a":' * 100_000,
    "non-utf8": b'{"code": "ORG", "name": "\xff\xfe\xfa", "country": "AU"}',
    "trailing-garbage": b'{"code": "ORG", "name": "Org", "country": "AU"} x',
}


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_body_is_400(client: TestClient, path: str, body: bytes) -> None:
    refused(client, "POST", path, 400, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("path", POST_ROUTES)
def test_empty_body_is_refused(client: TestClient, path: str) -> None:
    """No body at all: unreadable (400) or missing (422), the contract allows either; never recorded."""
    before = snapshot(client)
    response = client.post(path, content=b"", headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
    assert snapshot(client) == before


# 401: credentials -----------------------------------------------------------------------------

BAD_CREDENTIALS = {
    "none": {},
    "wrong-bearer": {"Authorization": "Bearer not-the-key"},
    "empty-bearer": {"Authorization": "Bearer "},
    "bearer-prefix-of-key": {"Authorization": f"Bearer {ADMIN_KEY[:-1]}"},
    "bearer-key-plus-suffix": {"Authorization": f"Bearer {ADMIN_KEY}x"},
    "wrong-x-api-key": {"X-API-Key": "not-the-key"},
    "empty-x-api-key": {"X-API-Key": ""},
    "basic-scheme": {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_KEY}".encode()).decode()},
    "token-scheme": {"Authorization": f"Token {ADMIN_KEY}"},
    "no-scheme": {"Authorization": ADMIN_KEY},
}

V1_ROUTES = (
    ("GET", "/v1/organizations"),
    ("POST", "/v1/organizations"),
    ("GET", f"/v1/organizations/{ORG}"),
    ("GET", "/v1/facilities"),
    ("POST", "/v1/facilities"),
    ("GET", f"/v1/facilities/{MINE}"),
    ("GET", "/v1/skus"),
    ("POST", "/v1/skus"),
    ("GET", f"/v1/skus/{SKU}"),
    ("GET", f"/v1/skus/{SKU}/origin"),
    ("POST", "/v1/events"),
    ("GET", "/v1/events/{event}"),
    ("POST", "/v1/events/{event}/void"),
    ("GET", "/v1/lots"),
    ("GET", "/v1/lots/{lot}"),
    ("GET", "/v1/lots/{lot}/origin"),
    ("GET", "/v1/lots/{lot}/trace"),
)


@pytest.mark.parametrize("headers", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_bad_credentials_are_401(client: TestClient, anonymous: TestClient, headers: dict[str, str]) -> None:
    problem = refused(client, "GET", "/v1/organizations", 401, via=anonymous, headers=headers)
    assert "key" in problem["detail"].lower()


@pytest.mark.parametrize(("method", "template"), V1_ROUTES, ids=[f"{m} {p}" for m, p in V1_ROUTES])
def test_every_v1_route_needs_a_key(
    client: TestClient, anonymous: TestClient, ore: JSON, method: str, template: str
) -> None:
    add_sku(client)
    path = template.format(lot=ore["id"], event=ore["event"])
    body = {"code": "NEW", "name": "New", "country": "AU"} if method == "POST" else None
    refused(client, method, path, 401, via=anonymous, json=body)


def test_refused_write_without_a_key_records_nothing(client: TestClient, anonymous: TestClient, ore: JSON) -> None:
    refused(client, "POST", f"/v1/events/{ore['event']}/void", 401, via=anonymous)
    refused(client, "POST", "/v1/events", 401, via=anonymous, json=extraction("ORE-2"))
    assert read_lot(client, ore)["status"] == "active"
    assert client.get(f"/v1/events/{ore['event']}").json()["status"] == "recorded"


def test_401_names_the_bearer_scheme(anonymous: TestClient) -> None:
    response = anonymous.get("/v1/lots", headers={"Authorization": "Bearer not-the-key"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {ADMIN_KEY}"}, {"X-API-Key": ADMIN_KEY}],
    ids=["bearer", "x-api-key"],
)
def test_a_correct_key_is_accepted(anonymous: TestClient, headers: dict[str, str]) -> None:
    assert anonymous.get("/v1/organizations", headers=headers).status_code == 200
    body = {"code": "KEYED", "name": "Keyed", "country": "AU"}
    assert anonymous.post("/v1/organizations", json=body, headers=headers).status_code == 201


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"])
def test_public_routes_need_no_key(anonymous: TestClient, path: str) -> None:
    assert anonymous.get(path).status_code == 200


# 404: unknown resources -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/lots/{MISSING_ID}",
        f"/v1/lots/{MISSING_ID}/origin",
        f"/v1/lots/{MISSING_ID}/trace",
        "/v1/lots/not-a-uuid",
        f"/v1/events/{MISSING_ID}",
        "/v1/events/not-a-uuid",
        "/v1/skus/NOPE",
        "/v1/skus/NOPE/origin",
        "/v1/organizations/NOPE",
        "/v1/facilities/NOPE",
        "/v1/nothing-here",
        "/v1/lots/a/b/c",
        "/nothing-here",
    ],
)
def test_unknown_resource_is_404(client: TestClient, ore: JSON, path: str) -> None:
    assert_problem(client.get(path), 404)


def test_voiding_an_unknown_event_is_404(client: TestClient, ore: JSON) -> None:
    refused(client, "POST", f"/v1/events/{MISSING_ID}/void", 404)


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("DELETE", "/v1/lots/{lot}"),
        ("PATCH", "/v1/lots/{lot}"),
        ("PUT", "/v1/events/{event}"),
        ("DELETE", "/v1/events/{event}"),
        ("GET", "/v1/events/{event}/void"),
        ("DELETE", f"/v1/organizations/{ORG}"),
        ("PUT", f"/v1/facilities/{MINE}"),
    ],
)
def test_lots_and_events_are_never_edited_or_deleted(client: TestClient, ore: JSON, method: str, template: str) -> None:
    refused(client, method, template.format(lot=ore["id"], event=ore["event"]), 405, json={"status": "voided"})


def test_unknown_route_without_a_key_is_refused_as_problem(anonymous: TestClient) -> None:
    response = anonymous.get("/v1/nothing-here")
    assert_problem(response, response.status_code)
    assert response.status_code in (401, 404)


# 409: conflicts -------------------------------------------------------------------------------


def test_duplicate_organization_code_is_409_and_keeps_the_first(client: TestClient) -> None:
    add_organization(client)
    refused(client, "POST", "/v1/organizations", 409, json={"code": ORG, "name": "Impostor", "country": "CN"})
    kept = client.get(f"/v1/organizations/{ORG}").json()
    assert (kept["name"], kept["country"]) == (f"{ORG} Ltd", "AU")


def test_duplicate_facility_code_is_409_even_in_another_organization(client: TestClient) -> None:
    add_organization(client)
    add_organization(client, OTHER_ORG, "CN")
    add_facility(client, MINE, ["mining"])
    body = {"code": MINE, "name": "Impostor", "organization": OTHER_ORG, "country": "CN", "stages": []}
    refused(client, "POST", "/v1/facilities", 409, json=body)
    assert client.get(f"/v1/facilities/{MINE}").json()["organization"] == ORG


def test_duplicate_sku_is_409_even_in_another_organization(client: TestClient) -> None:
    add_organization(client)
    add_organization(client, OTHER_ORG, "CN")
    add_sku(client)
    refused(client, "POST", "/v1/skus", 409, json={"sku": SKU, "name": "Impostor", "organization": OTHER_ORG})
    assert client.get(f"/v1/skus/{SKU}").json()["organization"] == ORG


def test_lot_code_reused_in_the_same_organization_is_409(client: TestClient, ore: JSON) -> None:
    refused_event(client, extraction(ORE), 409)


def test_lot_code_reused_at_another_facility_of_the_organization_is_409(client: TestClient, ore: JSON) -> None:
    receipt = event("receipt", REFINERY, [out(ORE, composition={"Nd": "1"})])
    refused_event(client, receipt, 409)


def test_lot_code_of_another_organization_is_free(client: TestClient, ore: JSON) -> None:
    add_organization(client, OTHER_ORG, "CN")
    add_facility(client, "OTHER-MINE", ["mining"], "CN", OTHER_ORG)
    assert record(client, extraction(ORE, facility="OTHER-MINE"))["outputs"][0]["organization"] == OTHER_ORG


def test_transfer_into_an_organization_that_holds_the_code_is_409(client: TestClient, ore: JSON) -> None:
    add_organization(client, OTHER_ORG, "CN")
    add_facility(client, "OTHER-MINE", ["mining"], "CN", OTHER_ORG)
    record(client, extraction("TAKEN", facility="OTHER-MINE"))
    refused_event(client, transfer(ore, "OTHER-MINE", code="TAKEN"), 409)


def test_transfer_keeping_its_code_within_the_organization_is_409(client: TestClient, ore: JSON) -> None:
    refused_event(client, transfer(ore, REFINERY, code=ORE), 409)


def test_lot_code_of_a_voided_lot_stays_taken(client: TestClient, ore: JSON) -> None:
    assert client.post(f"/v1/events/{ore['event']}/void").status_code == 200
    refused_event(client, extraction(ORE), 409)


@pytest.mark.parametrize("quantity", ["1000.000000000001", "1001", 1001])
def test_over_consumption_is_409(client: TestClient, ore: JSON, quantity: Any) -> None:
    refused_event(client, processing(MINE, [take(ore, quantity)], [out("OUT-1", "concentrate")]), 409)
    assert read_lot(client, ore)["remaining"] == "1000"


def test_over_consumption_over_two_events_is_409(client: TestClient, ore: JSON) -> None:
    record(client, processing(MINE, [take(ore, "600")], [out("OUT-1", "concentrate")]))
    refused_event(client, processing(MINE, [take(ore, "400.000000000001")], [out("OUT-2", "concentrate")]), 409)
    assert read_lot(client, ore)["remaining"] == "400"


def test_over_consumption_by_lot_code_is_409(client: TestClient, ore: JSON) -> None:
    item = {"lot_code": ORE, "organization": ORG, "quantity": "1001"}
    refused_event(client, processing(MINE, [item], [out("OUT-1", "concentrate")]), 409)


@pytest.mark.parametrize("quantity", ["999999999999999.999999999999", "0.000000000002"])
def test_over_consumption_at_the_precision_limits_is_409(client: TestClient, ore: JSON, quantity: str) -> None:
    big = receive(client, out("BIG", "ore", quantity, composition={}))
    assert big["quantity"] == quantity
    record(client, processing(MINE, [take(big, quantity)], [out("BIG-1", "ore")]))
    refused_event(client, processing(MINE, [take(big, "0.000000000001")], [out("BIG-2", "ore")]), 409)
    assert read_lot(client, big)["remaining"] == "0"


def test_a_refused_second_input_gives_the_first_nothing(client: TestClient, ore: JSON) -> None:
    other = extract(client, "ORE-2")
    body = processing(MINE, [take(ore, "500"), take(other, "1001")], [out("OUT-1", "concentrate"), out("OUT-2", "ore")])
    refused_event(client, body, 409)
    assert read_lot(client, ore)["remaining"] == "1000"


def test_consuming_a_voided_lot_is_409(client: TestClient, ore: JSON) -> None:
    assert client.post(f"/v1/events/{ore['event']}/void").status_code == 200
    refused_event(client, processing(MINE, [take(ore, "1")], [out("OUT-1", "concentrate")]), 409)
    refused_event(client, transfer(ore, REFINERY, quantity="1"), 409)


def test_voiding_an_event_whose_output_was_consumed_is_409(client: TestClient, ore: JSON) -> None:
    record(client, processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate")]))
    refused(client, "POST", f"/v1/events/{ore['event']}/void", 409)
    assert client.get(f"/v1/events/{ore['event']}").json()["status"] == "recorded"
    assert read_lot(client, ore)["status"] == "active"


def test_voiding_twice_is_409(client: TestClient, ore: JSON) -> None:
    consumer = record(client, processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate")]))
    assert client.post(f"/v1/events/{consumer['id']}/void").status_code == 200
    assert read_lot(client, ore)["remaining"] == "1000"
    refused(client, "POST", f"/v1/events/{consumer['id']}/void", 409)
    assert read_lot(client, ore)["remaining"] == "1000"


# 413: body too large --------------------------------------------------------------------------


def padded_organization(size: int) -> bytes:
    """A valid organization body of exactly ``size`` bytes (JSON allows trailing whitespace)."""
    body = b'{"code": "BIG", "name": "Big", "country": "AU"}'
    return body + b" " * (size - len(body))


def test_body_over_1_mib_is_413(client: TestClient) -> None:
    refused(client, "POST", "/v1/organizations", 413, content=padded_organization(MIB + 1))


def test_body_of_exactly_1_mib_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/organizations", content=padded_organization(MIB))
    assert response.status_code == 201, response.text


def test_streamed_body_over_1_mib_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        body = padded_organization(MIB + 64 * 1024)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    refused(client, "POST", "/v1/organizations", 413, content=chunks())


def test_body_larger_than_its_content_length_is_413(client: TestClient) -> None:
    headers = {"Content-Length": "47", "Content-Type": "application/json"}
    refused(client, "POST", "/v1/organizations", 413, content=padded_organization(2 * MIB), headers=headers)


def test_large_event_body_is_413(client: TestClient, ore: JSON) -> None:
    outputs = [out(f"L-{i:06d}", "concentrate", "1", composition={"Nd": "0.001"}) for i in range(20_000)]
    refused_event(client, event("extraction", MINE, outputs), 413)


# 422: organizations, facilities, SKUs ---------------------------------------------------------

ORGANIZATION = {"code": "NEW", "name": "New Co", "country": "AU"}
NOT_OBJECTS = {"list": [ORGANIZATION], "string": "NEW", "number": 1, "true": True, "null": None}


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize("body", NOT_OBJECTS.values(), ids=NOT_OBJECTS.keys())
def test_body_that_is_not_an_object_is_422(client: TestClient, path: str, body: Any) -> None:
    refused(client, "POST", path, 422, json=body)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "au"}, "country"),
        ({"country": "AUS"}, "country"),
        ({"country": ""}, "country"),
        ({"country": 36}, "country"),
        ({"code": "A B"}, "code"),
        ({"code": "A/B"}, "code"),
        ({"code": "Ä"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "A" * 65}, "code"),
        ({"code": "A\n"}, "code"),
        ({"code": 7}, "code"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_organization_is_422(client: TestClient, change: JSON, field: str) -> None:
    refused(client, "POST", "/v1/organizations", 422, field, json=ORGANIZATION | change)


@pytest.mark.parametrize("field", ["code", "name", "country"])
def test_organization_missing_a_field_is_422(client: TestClient, field: str) -> None:
    body = {k: v for k, v in ORGANIZATION.items() if k != field}
    refused(client, "POST", "/v1/organizations", 422, field, json=body)


@pytest.mark.parametrize("code", ["A" * 64, "a-Z_0.9:x"])
def test_code_of_64_allowed_characters_is_accepted(client: TestClient, code: str) -> None:
    assert created(client.post("/v1/organizations", json=ORGANIZATION | {"code": code}))["code"] == code


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "ZZ"}, "country"),
        ({"country": "my"}, "country"),
        ({"stages": ["smelting"]}, "stages.0"),
        ({"stages": ["mining", "Refining"]}, "stages.1"),
        ({"stages": "mining"}, "stages"),
        ({"code": "M" * 65}, "code"),
        ({"organization": "NOPE"}, "organization"),
        ({"owner": ORG}, "owner"),
    ],
)
def test_invalid_facility_is_422(client: TestClient, change: JSON, field: str) -> None:
    add_organization(client)
    body = {"code": "NEWSITE", "name": "Site", "organization": ORG, "country": "MY", "stages": ["refining"]} | change
    refused(client, "POST", "/v1/facilities", 422, field, json=body)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gtin": "4006381333932"}, "gtin"),
        ({"gtin": "400638133393"}, "gtin"),
        ({"gtin": "40063813339"}, "gtin"),
        ({"gtin": "4006381333931X"}, "gtin"),
        ({"gtin": "400638133393a"}, "gtin"),
        ({"gtin": 4006381333931}, "gtin"),
        ({"sku": "S" * 65}, "sku"),
        ({"sku": "EV MOTOR"}, "sku"),
        ({"organization": "NOPE"}, "organization"),
        ({"price": "1"}, "price"),
    ],
)
def test_invalid_sku_is_422(client: TestClient, change: JSON, field: str) -> None:
    add_organization(client)
    refused(client, "POST", "/v1/skus", 422, field, json={"sku": "EV-1", "name": "Motor", "organization": ORG} | change)


@pytest.mark.parametrize("gtin", ["96385074", "036000291452", "4006381333931", "10614141000415"])
def test_valid_gtins_are_accepted(client: TestClient, gtin: str) -> None:
    add_organization(client)
    assert created(client.post("/v1/skus", json={"sku": "EV-1", "name": "Motor", "organization": ORG, "gtin": gtin}))


# 422: event shape and values ------------------------------------------------------------------

BAD_QUANTITIES = {
    "true": True,
    "false": False,
    "zero": "0",
    "zero-number": 0,
    "negative": "-1",
    "negative-number": -5,
    "exponent": "1e3",
    "exponent-upper": "1E3",
    "nan": "NaN",
    "infinity": "Infinity",
    "13-decimals": "1.0000000000001",
    "hex": "0x10",
    "empty": "",
    "words": "ten",
    "comma": "1,5",
    "list": ["1"],
    "object": {"value": "1"},
    "19-integer-digits": "1" + "0" * 18,
}


@pytest.mark.parametrize("quantity", BAD_QUANTITIES.values(), ids=BAD_QUANTITIES.keys())
def test_bad_output_quantity_is_422(client: TestClient, ore: JSON, quantity: Any) -> None:
    body = extraction("ORE-2")
    body["outputs"][0]["quantity"] = quantity
    refused_event(client, body, 422, "outputs.0.quantity")


@pytest.mark.parametrize("quantity", BAD_QUANTITIES.values(), ids=BAD_QUANTITIES.keys())
def test_bad_input_quantity_is_422(client: TestClient, ore: JSON, quantity: Any) -> None:
    refused_event(
        client, processing(MINE, [take(ore, quantity)], [out("OUT-1", "concentrate")]), 422, "inputs.0.quantity"
    )


@pytest.mark.parametrize("value", ["-1", "1e1", "NaN", True, "1.0000000000001"])
def test_bad_composition_value_is_422(client: TestClient, ore: JSON, value: Any) -> None:
    refused_event(client, extraction("ORE-2", composition={"Nd": value}), 422, "outputs.0.composition")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_number_literal_is_refused(client: TestClient, ore: JSON, literal: bytes) -> None:
    raw = (
        b'{"type": "extraction", "facility": "MINE", "occurred_at": "2025-06-01T00:00:00Z", "outputs": '
        b'[{"code": "ORE-2", "material": "ore", "quantity": ' + literal + b', "unit": "kg", "composition": {}}]}'
    )
    before = snapshot(client)
    response = client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
    assert snapshot(client) == before


@pytest.mark.parametrize(("quantity", "expected"), [("1.000000000001", "1.000000000001"), (12.5, "12.5"), ("7", "7")])
def test_quantities_at_the_limits_are_accepted(client: TestClient, ore: JSON, quantity: Any, expected: str) -> None:
    body = extraction("ORE-2", composition={"Nd": "0.5"})
    body["outputs"][0]["quantity"] = quantity
    assert record(client, body)["outputs"][0]["quantity"] == expected


def test_pieces_are_whole_on_outputs(client: TestClient, ore: JSON) -> None:
    receipt = event("receipt", MINE, [out("MAG-1", "magnet", "1.5", "pcs", composition={"Nd": "1"})])
    refused_event(client, receipt, 422, "outputs.0.quantity")


def test_pieces_are_consumed_whole(client: TestClient, ore: JSON) -> None:
    magnets = receive(client, out("MAG-1", "magnet", "10", "pcs", composition={"Nd": "1"}))
    body = processing(MINE, [take(magnets, "2.5")], [out("MAG-2", "magnet", "2", "pcs")])
    refused_event(client, body, 422, "inputs.0.quantity")
    assert read_lot(client, magnets)["remaining"] == "10"


@pytest.mark.parametrize(
    ("quantity", "unit", "composition"),
    [
        ("100", "kg", {"Nd": "100.000000000001"}),
        ("100", "kg", {"Nd": "60", "Pr": "40.5"}),
        ("1", "t", {"Nd": "1000.1"}),
        ("1000", "g", {"Nd": "1.5"}),
    ],
)
def test_composition_heavier_than_the_lot_is_422(
    client: TestClient, ore: JSON, quantity: str, unit: str, composition: JSON
) -> None:
    body = event("extraction", MINE, [out("ORE-2", "ore", quantity, unit, composition=composition)], at=T0)
    refused_event(client, body, 422, "outputs.0.composition")


@pytest.mark.parametrize(("unit", "kg"), [("t", "1000"), ("g", "1"), ("pcs", "5000")])
def test_composition_weighing_the_lot_or_counted_in_pieces_is_accepted(
    client: TestClient, ore: JSON, unit: str, kg: str
) -> None:
    record(
        client,
        event("receipt", MINE, [out("LOT-2", "magnet", "1000" if unit == "g" else "1", unit, composition={"Nd": kg})]),
    )


@pytest.mark.parametrize("symbol", ["Xx", "nd", "ND", "Fe", "U", "", "Nd2O3", "ree"])
def test_unknown_element_symbol_is_422(client: TestClient, ore: JSON, symbol: str) -> None:
    refused_event(client, extraction("ORE-2", composition={symbol: "1"}), 422, "outputs.0.composition")


@pytest.mark.parametrize("composition", [["Nd", "1"], "Nd", {"Nd": {"kg": "1"}}, {"Nd": None}])
def test_malformed_composition_is_422(client: TestClient, ore: JSON, composition: Any) -> None:
    refused_event(client, extraction("ORE-2", composition=composition), 422, "outputs.0.composition")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "mining"}, "type"),
        ({"type": None}, "type"),
        ({"facility": "bad code"}, "facility"),
        ({"stage": "mining"}, "stage"),
        ({"inputs": [{"lot": MISSING_ID, "quantity": "1"}]}, "inputs"),
        ({"outputs": []}, "outputs"),
        ({"reference": "R" * 201}, "reference"),
        ({"notes": "x"}, "notes"),
    ],
)
def test_invalid_extraction_is_422(client: TestClient, ore: JSON, change: JSON, field: str) -> None:
    refused_event(client, extraction("ORE-2") | change, 422, field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"material": "oxide"}, "outputs.0.material"),
        ({"material": "magnet"}, "outputs.0.material"),
        ({"material": "gold"}, "outputs.0.material"),
        ({"unit": "lb"}, "outputs.0.unit"),
        ({"unit": "KG"}, "outputs.0.unit"),
        ({"composition": None}, "outputs.0.composition"),
        ({"code": "A B"}, "outputs.0.code"),
        ({"code": "X" * 65}, "outputs.0.code"),
        ({"facility": REFINERY}, "outputs.0.facility"),
        ({"declared_origin": [{"route": {"mining": "AU"}, "percent": "100"}]}, "outputs.0.declared_origin"),
        ({"sku": SKU}, "outputs.0.sku"),
        ({"colour": "red"}, "outputs.0.colour"),
    ],
)
def test_invalid_extraction_output_is_422(client: TestClient, ore: JSON, change: JSON, field: str) -> None:
    add_sku(client)
    body = extraction("ORE-2")
    body["outputs"][0] |= change
    refused_event(client, body, 422, field)


@pytest.mark.parametrize("name", ["material", "quantity", "unit", "code"])
def test_output_missing_a_field_is_422(client: TestClient, ore: JSON, name: str) -> None:
    body = extraction("ORE-2")
    del body["outputs"][0][name]
    refused_event(client, body, 422, f"outputs.0.{name}")


def test_null_counts_as_absent_for_fields_of_other_event_types(client: TestClient, ore: JSON) -> None:
    body = extraction("ORE-2", stage=None)
    body["outputs"][0] |= {"facility": None, "declared_origin": None, "sku": None}
    assert record(client, body)["outputs"][0]["code"] == "ORE-2"


def test_stage_on_a_receipt_is_422(client: TestClient, ore: JSON) -> None:
    receipt = event("receipt", MINE, [out("IN-1", composition={"Nd": "1"})], stage="refining")
    refused_event(client, receipt, 422, "stage")


def test_stage_on_a_transfer_is_422(client: TestClient, ore: JSON) -> None:
    refused_event(client, transfer(ore, REFINERY) | {"stage": "mining"}, 422, "stage")


def test_declared_origin_on_processing_is_422(client: TestClient, ore: JSON) -> None:
    declared = [{"route": {"mining": "AU"}, "percent": "100"}]
    body = processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate", declared_origin=declared)])
    refused_event(client, body, 422, "outputs.0.declared_origin")


def test_facility_on_a_processing_output_is_422(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate", facility=REFINERY)])
    refused_event(client, body, 422, "outputs.0.facility")


def test_receipt_with_inputs_is_422(client: TestClient, ore: JSON) -> None:
    receipt = event("receipt", MINE, [out("IN-1", composition={"Nd": "1"})], [take(ore, "1")])
    refused_event(client, receipt, 422, "inputs")


def test_receipt_without_composition_is_422(client: TestClient, ore: JSON) -> None:
    refused_event(client, event("receipt", MINE, [out("IN-1")]), 422, "outputs.0.composition")


@pytest.mark.parametrize(
    "declared",
    [
        [{"route": {"mining": "AU"}, "percent": "60"}, {"route": {"mining": "CN"}, "percent": "40.000001"}],
        [{"route": {"mining": "AU"}, "percent": "0"}],
        [{"route": {"mining": "AU"}, "percent": "-10"}],
        [{"route": {"mining": "AU"}, "percent": True}],
        [{"route": {"mining": "XX"}, "percent": "10"}],
        [{"route": {"mining": "cn"}, "percent": "10"}],
        [{"route": {"refining": "recycled"}, "percent": "10"}],
        [{"route": {"metal_making": "CN"}, "percent": "10"}],
        [{"route": {"manufacturing": "unknown"}, "percent": "10"}],
        [{"route": {"smelting": "CN"}, "percent": "10"}],
        [{"route": {"mining": "AU"}}],
        [{"route": "AU", "percent": "10"}],
        [{"route": {"mining": "AU"}, "percent": "10", "source": "x"}],
    ],
)
def test_invalid_declared_origin_is_422(client: TestClient, ore: JSON, declared: list[JSON]) -> None:
    receipt = event("receipt", MINE, [out("IN-1", "oxide", composition={"Nd": "1"}, declared_origin=declared)])
    refused_event(client, receipt, 422, "outputs.0.declared_origin")


def test_declared_origin_at_the_limits_is_accepted(client: TestClient, ore: JSON) -> None:
    declared = [
        {"route": {"mining": "recycled", "refining": "none"}, "percent": "40"},
        {"route": {"mining": "AU", "metal_making": "none"}, "percent": "60"},
    ]
    lot = receive(client, out("IN-1", "oxide", composition={"Nd": "1"}, declared_origin=declared))
    assert lot["origin"]["stages"]["mining"] == {"recycled": "40", "AU": "60"}


def test_processing_without_inputs_is_422(client: TestClient, ore: JSON) -> None:
    refused_event(client, processing(MINE, [], [out("OUT-1", "concentrate")]), 422, "inputs")


def test_processing_output_without_material_is_422(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "10")], [{"code": "OUT-1", "quantity": "10", "unit": "kg"}])
    refused_event(client, body, 422, "outputs.0.material")


@pytest.mark.parametrize(
    "item",
    [
        {"quantity": "1"},
        {"lot_code": ORE, "quantity": "1"},
        {"organization": ORG, "quantity": "1"},
        {"lot": "{id}", "lot_code": ORE, "organization": ORG, "quantity": "1"},
        {"lot": "{id}"},
        {"lot": 5, "quantity": "1"},
    ],
)
def test_input_that_names_no_lot_clearly_is_422(client: TestClient, ore: JSON, item: JSON) -> None:
    item = {k: ore["id"] if v == "{id}" else v for k, v in item.items()}
    refused_event(client, processing(MINE, [item], [out("OUT-1", "concentrate")]), 422, "inputs.0")


@pytest.mark.parametrize(
    "second",
    [
        {"lot": "{id}", "quantity": "1"},
        {"lot_code": ORE, "organization": ORG, "quantity": "1"},
    ],
    ids=["by-id", "by-code"],
)
def test_input_named_twice_is_422(client: TestClient, ore: JSON, second: JSON) -> None:
    second = {k: ore["id"] if v == "{id}" else v for k, v in second.items()}
    body = processing(MINE, [take(ore, "1"), second], [out("OUT-1", "concentrate")])
    refused_event(client, body, 422, "inputs.1")


def test_output_code_twice_in_one_event_is_refused(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate"), out("OUT-1", "ore")])
    before = snapshot(client)
    response = client.post("/v1/events", json=body)
    assert response.status_code in (409, 422), response.text
    assert_problem(response, response.status_code)
    assert snapshot(client) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"facility": MINE}, "outputs.0.facility"),
        ({"facility": None}, "outputs.0.facility"),
        ({"composition": {"Nd": "100", "Pr": "50"}}, "outputs.0.composition"),
        ({"composition": {}}, "outputs.0.composition"),
        ({"quantity": "999"}, "outputs.0.quantity"),
        ({"material": "oxide"}, "outputs.0.material"),
        ({"unit": "t"}, "outputs.0.unit"),
        ({"declared_origin": [{"route": {"mining": "AU"}, "percent": "100"}]}, "outputs.0.declared_origin"),
    ],
)
def test_invalid_transfer_is_422(client: TestClient, ore: JSON, change: JSON, field: str) -> None:
    body = transfer(ore, REFINERY)
    body["outputs"][0] |= change
    refused_event(client, body, 422, field)


def test_transfer_that_repeats_the_inputs_values_is_accepted(client: TestClient, ore: JSON) -> None:
    body = transfer(ore, REFINERY, material="concentrate", unit="kg", quantity="1000")
    assert record(client, body)["outputs"][0]["facility"] == REFINERY


def test_transfer_with_two_outputs_is_422(client: TestClient, ore: JSON) -> None:
    body = transfer(ore, REFINERY)
    body["outputs"].append({"code": "SHIPPED-2", "facility": REFINERY})
    refused_event(client, body, 422, "outputs")


def test_transfer_with_two_inputs_is_422(client: TestClient, ore: JSON) -> None:
    other = extract(client, "ORE-2")
    body = transfer(ore, REFINERY)
    body["inputs"].append(take(other, "1"))
    refused_event(client, body, 422, "inputs")


def test_transfer_without_input_is_422(client: TestClient, ore: JSON) -> None:
    body = event("transfer", MINE, [{"code": "SHIPPED-1", "facility": REFINERY}])
    refused_event(client, body, 422, "inputs")


@pytest.mark.parametrize(
    ("timestamp", "field"),
    [
        (None, "occurred_at"),
        ("2025-06-02T00:00:00", "occurred_at"),
        ("2025-06-02", "occurred_at"),
        ("2025-06-02 00:00", "occurred_at"),
        ("yesterday", "occurred_at"),
        ("2025-13-01T00:00:00Z", "occurred_at"),
        ("2025-02-30T00:00:00Z", "occurred_at"),
        ("", "occurred_at"),
        (1748822400, "occurred_at"),
        (True, "occurred_at"),
    ],
)
def test_bad_or_naive_timestamp_is_422(client: TestClient, ore: JSON, timestamp: Any, field: str) -> None:
    body = extraction("ORE-2")
    if timestamp is None:
        del body["occurred_at"]
    else:
        body["occurred_at"] = timestamp
    refused_event(client, body, 422, field)


OUT_OF_UTC_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("timestamp", OUT_OF_UTC_RANGE)
def test_timestamp_outside_the_utc_range_is_422(client: TestClient, ore: JSON, timestamp: str) -> None:
    refused_event(client, extraction("ORE-2") | {"occurred_at": timestamp}, 422, "occurred_at")


def test_offset_is_normalized_to_utc(client: TestClient, ore: JSON) -> None:
    recorded = record(client, extraction("ORE-2") | {"occurred_at": "2025-06-01T02:30:00+02:00"})
    assert recorded["occurred_at"] == "2025-06-01T00:30:00Z"
    assert recorded["outputs"][0]["occurred_at"] == "2025-06-01T00:30:00Z"
    assert client.get(f"/v1/events/{recorded['id']}").json()["occurred_at"] == "2025-06-01T00:30:00Z"
    assert read_lot(client, recorded["outputs"][0])["occurred_at"] == "2025-06-01T00:30:00Z"


# 422: references ------------------------------------------------------------------------------


def test_unknown_event_facility_is_422(client: TestClient, ore: JSON) -> None:
    refused_event(client, extraction("ORE-2", facility="NOPE"), 422, "facility")


def test_unknown_receiving_facility_is_422(client: TestClient, ore: JSON) -> None:
    refused_event(client, transfer(ore, "NOPE"), 422, "outputs.0.facility")


@pytest.mark.parametrize(
    "item",
    [
        {"lot": MISSING_ID, "quantity": "1"},
        {"lot": "not-a-uuid", "quantity": "1"},
        {"lot_code": "NOPE", "organization": ORG, "quantity": "1"},
        {"lot_code": ORE, "organization": "NOPE", "quantity": "1"},
    ],
)
def test_unknown_input_lot_is_422(client: TestClient, ore: JSON, item: JSON) -> None:
    refused_event(client, processing(MINE, [item], [out("OUT-1", "concentrate")]), 422, "inputs.0")


def test_input_at_another_facility_is_422(client: TestClient, ore: JSON) -> None:
    body = processing(REFINERY, [take(ore, "10")], [out("OX-1", "oxide")], stage="refining")
    refused_event(client, body, 422, "inputs.0")


def test_transfer_recorded_at_another_facility_than_its_input_is_422(client: TestClient, ore: JSON) -> None:
    body = transfer(ore, MINE) | {"facility": REFINERY}
    refused_event(client, body, 422, "inputs.0")


def test_event_earlier_than_its_input_is_422(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate")], at=EARLIER)
    refused_event(client, body, 422, "occurred_at")


def test_event_at_the_same_time_as_its_input_is_accepted(client: TestClient, ore: JSON) -> None:
    assert record(client, processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate")], at=T0))


def test_unknown_sku_on_an_output_is_422(client: TestClient, ore: JSON) -> None:
    receipt = event("receipt", MINE, [out("P-1", "product", "1", "pcs", composition={"Nd": "1"}, sku="NOPE")])
    refused_event(client, receipt, 422, "outputs.0.sku")


@pytest.mark.parametrize("material", ["oxide", "metal", "alloy", "ore"])
def test_sku_on_a_material_other_than_magnet_component_or_product_is_422(
    client: TestClient, ore: JSON, material: str
) -> None:
    add_sku(client)
    receipt = event("receipt", MINE, [out("P-1", material, "1", "pcs", composition={"Nd": "1"}, sku=SKU)])
    refused_event(client, receipt, 422, "outputs.0.sku")


@pytest.mark.parametrize("material", ["magnet", "component", "product"])  # magnets by SKU: contract 1.1
def test_sku_of_another_organization_on_a_product_is_accepted(client: TestClient, ore: JSON, material: str) -> None:
    add_organization(client, OTHER_ORG, "CN")
    add_sku(client, "BRAND-1", OTHER_ORG)
    lot = receive(client, out("P-1", material, "1", "pcs", composition={"Nd": "1"}, sku="BRAND-1"))
    assert lot["sku"] == "BRAND-1"


# 422: stage and material ----------------------------------------------------------------------


def test_extraction_not_at_a_mining_facility_is_422(client: TestClient, ore: JSON) -> None:
    refused_event(client, extraction("ORE-2", facility=REFINERY), 422, "facility")


def test_stage_the_facility_does_not_perform_is_422(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "10")], [out("OX-1", "oxide")], stage="refining")
    refused_event(client, body, 422, "stage")


@pytest.mark.parametrize("material", ["metal", "concentrate", "magnet", "product"])
def test_material_not_fitting_the_stage_is_422(client: TestClient, ore: JSON, material: str) -> None:
    shipped = record(client, transfer(ore, REFINERY))["outputs"][0]
    body = processing(REFINERY, [take(shipped, "10")], [out("OUT-1", material)], stage="refining")
    refused_event(client, body, 422, "outputs.0.material")


@pytest.mark.parametrize("stage", ["smelting", "Refining", ""])
def test_unknown_stage_is_422(client: TestClient, ore: JSON, stage: str) -> None:
    body = processing(MINE, [take(ore, "10")], [out("OUT-1", "concentrate")], stage=stage)
    refused_event(client, body, 422, "stage")


# 422: compositions and mass balance -----------------------------------------------------------


def test_mixed_given_and_missing_compositions_are_422(client: TestClient, ore: JSON) -> None:
    outputs = [out("OUT-1", "concentrate", composition={"Nd": "10"}), out("OUT-2", "concentrate")]
    refused_event(client, processing(MINE, [take(ore, "1000")], outputs), 422, "outputs")


def test_derived_compositions_in_different_units_are_422(client: TestClient, ore: JSON) -> None:
    outputs = [out("OUT-1", "concentrate", "500", "kg"), out("OUT-2", "concentrate", "0.5", "t")]
    refused_event(client, processing(MINE, [take(ore, "1000")], outputs), 422, "outputs")


def test_derived_composition_heavier_than_its_lot_is_422(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "1000")], [out("OUT-1", "concentrate", "100", "kg")])
    refused_event(client, body, 422, "outputs")


@pytest.mark.parametrize(
    "composition",
    [
        {"Nd": "100.500000000001", "Pr": "10"},
        {"Nd": "101", "Pr": "10"},
        {"Nd": "10", "Pr": "50.3"},
        {"Nd": "50", "Dy": "0.000001"},
    ],
    ids=["nd-just-over", "nd-over", "pr-over", "element-that-did-not-go-in"],
)
def test_element_resolved_mass_balance_is_per_element(client: TestClient, ore: JSON, composition: JSON) -> None:
    body = processing(MINE, [take(ore, "1000")], [out("OUT-1", "concentrate", composition=composition)])
    refused_event(client, body, 422, "outputs")


def test_element_resolved_mass_balance_uses_the_consumed_fraction(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "500")], [out("OUT-1", "concentrate", composition={"Nd": "50.3"})])
    refused_event(client, body, 422, "outputs")


def test_element_resolved_mass_balance_allows_the_tolerance(client: TestClient, ore: JSON) -> None:
    body = processing(
        MINE, [take(ore, "1000")], [out("OUT-1", "concentrate", composition={"Nd": "100.5", "Pr": "50.25"})]
    )
    assert record(client, body)["outputs"][0]["origin"]["element_resolved"] is True


@pytest.fixture
def pooled(client: TestClient, ore: JSON) -> JSON:
    """An extraction whose 100 kg of rare earths are not resolved into elements."""
    return extract(client, "ORE-REE", {"REE": "100"})


@pytest.mark.parametrize(
    "composition",
    [{"Nd": "60", "Pr": "40.500000000001"}, {"Dy": "101"}, {"REE": "100.6"}],
    ids=["elements-over", "one-element-over", "ree-over"],
)
def test_pooled_mass_balance_is_on_the_total(client: TestClient, pooled: JSON, composition: JSON) -> None:
    body = processing(MINE, [take(pooled, "1000")], [out("OUT-1", "concentrate", composition=composition)])
    refused_event(client, body, 422, "outputs")


def test_pooled_mass_balance_lets_any_element_out_within_the_total(client: TestClient, pooled: JSON) -> None:
    body = processing(
        MINE, [take(pooled, "1000")], [out("OUT-1", "concentrate", composition={"Dy": "60", "Tb": "40.5"})]
    )
    assert record(client, body)["outputs"][0]["origin"]["element_resolved"] is False


def test_ree_on_an_output_makes_the_balance_pooled(client: TestClient, ore: JSON) -> None:
    outputs = [out("OUT-1", "concentrate", composition={"REE": "150.75"})]
    assert (
        record(client, processing(MINE, [take(ore, "1000")], outputs))["outputs"][0]["origin"]["element_resolved"]
        is False
    )


def test_pooled_mass_balance_over_two_outputs_is_422(client: TestClient, ore: JSON, pooled: JSON) -> None:
    outputs = [
        out("OUT-1", "concentrate", composition={"REE": "150"}),
        out("OUT-2", "ore", composition={"Nd": "101.3"}),
    ]
    body = processing(MINE, [take(ore, "1000"), take(pooled, "1000")], outputs)
    refused_event(client, body, 422, "outputs")


# Order of checks ------------------------------------------------------------------------------


def test_shape_beats_conflict(client: TestClient, ore: JSON) -> None:
    body = extraction(ORE)
    body["outputs"][0]["quantity"] = "0"
    refused_event(client, body, 422, "outputs.0.quantity")


def test_shape_beats_reference(client: TestClient, ore: JSON) -> None:
    body = extraction("ORE-2", facility="NOPE")
    body["outputs"][0]["quantity"] = "-1"
    problem = refused_event(client, body, 422, "outputs.0.quantity")
    assert [e["field"] for e in problem["errors"]] == ["outputs.0.quantity"]


def test_shape_beats_stage(client: TestClient, ore: JSON) -> None:
    body = extraction("ORE-2", facility=REFINERY)
    body["outputs"][0]["material"] = "oxide"
    refused_event(client, body, 422, "outputs.0.material")


def test_shape_beats_mass_balance(client: TestClient, ore: JSON) -> None:
    outputs = [out("OUT-1", "concentrate", composition={"Nd": "500"}), out("OUT-2", "concentrate")]
    problem = refused_event(client, processing(MINE, [take(ore, "1000")], outputs), 422, "outputs")
    assert "mass balance" not in problem["detail"].lower()


def test_input_named_twice_beats_over_consumption(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "1000"), take(ore, "1000")], [out("OUT-1", "concentrate")])
    refused_event(client, body, 422, "inputs.1")


def test_reference_beats_stage(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [{"lot": MISSING_ID, "quantity": "1"}], [out("OX-1", "oxide")], stage="refining")
    refused_event(client, body, 422, "inputs.0")


def test_reference_beats_conflict(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "5000")], [out(ORE, "concentrate")], at=EARLIER)
    refused_event(client, body, 422, "occurred_at")


def test_unknown_sku_beats_duplicate_lot_code(client: TestClient, ore: JSON) -> None:
    receipt = event("receipt", MINE, [out(ORE, "product", "1", "pcs", composition={"Nd": "1"}, sku="NOPE")])
    refused_event(client, receipt, 422, "outputs.0.sku")


def test_voided_input_at_another_facility_is_a_reference_error(client: TestClient, ore: JSON) -> None:
    assert client.post(f"/v1/events/{ore['event']}/void").status_code == 200
    body = processing(REFINERY, [take(ore, "1")], [out("OX-1", "oxide")], stage="refining")
    refused_event(client, body, 422, "inputs.0")


def test_stage_beats_conflict(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "5000")], [out(ORE, "oxide")], stage="refining")
    refused_event(client, body, 422, "stage")


def test_stage_beats_mass_balance(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "1000")], [out("OX-1", "oxide", composition={"Nd": "900"})], stage="refining")
    refused_event(client, body, 422, "stage")


def test_extraction_facility_beats_duplicate_code(client: TestClient, ore: JSON) -> None:
    add_facility(client, "MINE-2", [], "AU")
    refused_event(client, extraction(ORE, facility="MINE-2"), 422, "facility")


def test_over_consumption_beats_mass_balance(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "1001")], [out("OUT-1", "concentrate", composition={"Nd": "900"})])
    refused_event(client, body, 409)


def test_duplicate_lot_code_beats_mass_balance(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "1000")], [out(ORE, "concentrate", composition={"Dy": "1"})])
    refused_event(client, body, 409)


def test_voided_input_beats_mass_balance(client: TestClient, ore: JSON) -> None:
    assert client.post(f"/v1/events/{ore['event']}/void").status_code == 200
    body = processing(MINE, [take(ore, "1")], [out("OUT-1", "concentrate", composition={"Dy": "1"})])
    refused_event(client, body, 409)


def test_duplicate_lot_code_beats_derived_composition_weight(client: TestClient, ore: JSON) -> None:
    body = processing(MINE, [take(ore, "1000")], [out(ORE, "concentrate", "1", "kg")])
    refused_event(client, body, 409)


def test_catalog_shape_beats_duplicate_code(client: TestClient) -> None:
    add_organization(client)
    refused(client, "POST", "/v1/organizations", 422, "country", json={"code": ORG, "name": "Again", "country": "au"})


# 422: queries ---------------------------------------------------------------------------------

BAD_PAGES = {
    "limit-0": ({"limit": "0"}, "limit"),
    "limit-501": ({"limit": "501"}, "limit"),
    "limit-negative": ({"limit": "-1"}, "limit"),
    "limit-word": ({"limit": "ten"}, "limit"),
    "limit-decimal": ({"limit": "1.5"}, "limit"),
    "cursor-garbage": ({"cursor": "!!!"}, "cursor"),
    "cursor-not-base64-json": ({"cursor": "bm90LWpzb24"}, "cursor"),
    "cursor-json-without-key": ({"cursor": base64.urlsafe_b64encode(b'{"before": 1}').decode()}, "cursor"),
    "cursor-json-list": ({"cursor": base64.urlsafe_b64encode(b"[1]").decode()}, "cursor"),
    "cursor-empty": ({"cursor": ""}, "cursor"),
}


@pytest.mark.parametrize("path", LIST_ROUTES)
@pytest.mark.parametrize(("params", "field"), BAD_PAGES.values(), ids=BAD_PAGES.keys())
def test_bad_page_is_422(client: TestClient, ore: JSON, path: str, params: JSON, field: str) -> None:
    assert_problem(client.get(path, params=params), 422, field)


@pytest.mark.parametrize(("path", "other"), [("/v1/lots", "/v1/organizations"), ("/v1/organizations", "/v1/lots")])
def test_cursor_of_another_list_is_422(client: TestClient, ore: JSON, path: str, other: str) -> None:
    extract(client, "ORE-2")
    add_organization(client, OTHER_ORG)
    cursor = client.get(other, params={"limit": 1}).json()["next_cursor"]
    assert cursor
    assert_problem(client.get(path, params={"cursor": cursor}), 422, "cursor")


@pytest.mark.parametrize("path", LIST_ROUTES)
@pytest.mark.parametrize("limit", ["1", "500"])
def test_limits_at_the_bounds_are_accepted(client: TestClient, ore: JSON, path: str, limit: str) -> None:
    assert client.get(path, params={"limit": limit}).status_code == 200


BAD_QUESTIONS = {
    "country-unknown": ({"countries": "XX"}, "countries"),
    "country-lower-case": ({"countries": "cn"}, "countries"),
    "country-alpha-3": ({"countries": "CHN"}, "countries"),
    "country-one-bad-of-two": ({"countries": "CN,XX"}, "countries"),
    "country-empty-entry": ({"countries": "CN,"}, "countries"),
    "country-empty": ({"countries": ""}, "countries"),
    "stage-unknown": ({"stages": "smelting"}, "stages"),
    "stage-capitalized": ({"stages": "Mining"}, "stages"),
    "stage-empty-entry": ({"stages": "mining,"}, "stages"),
    "stage-empty": ({"stages": ""}, "stages"),
    "threshold-101": ({"threshold_percent": "101"}, "threshold_percent"),
    "threshold-just-over-100": ({"threshold_percent": "100.000001"}, "threshold_percent"),
    "threshold-negative": ({"threshold_percent": "-1"}, "threshold_percent"),
    "threshold-word": ({"threshold_percent": "abc"}, "threshold_percent"),
    "threshold-exponent": ({"threshold_percent": "1e1"}, "threshold_percent"),
    "threshold-nan": ({"threshold_percent": "NaN"}, "threshold_percent"),
    "threshold-empty": ({"threshold_percent": ""}, "threshold_percent"),
}


@pytest.mark.parametrize("template", ORIGIN_ROUTES)
@pytest.mark.parametrize(("params", "field"), BAD_QUESTIONS.values(), ids=BAD_QUESTIONS.keys())
def test_bad_question_is_422(client: TestClient, ore: JSON, template: str, params: JSON, field: str) -> None:
    add_sku(client)
    assert_problem(client.get(template.format(lot=ore["id"]), params=params), 422, field)


@pytest.mark.parametrize("template", ORIGIN_ROUTES)
@pytest.mark.parametrize("threshold", ["0", "100", "12.5"])
def test_thresholds_within_0_to_100_are_accepted(client: TestClient, ore: JSON, template: str, threshold: str) -> None:
    add_sku(client)
    response = client.get(template.format(lot=ore["id"]), params={"threshold_percent": threshold})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "params",
    [
        {"produced_from": T1, "produced_to": T1},
        {"produced_from": T1, "produced_to": T0},
        {"produced_from": "2025-06-01T02:00:00+02:00", "produced_to": "2025-06-01T00:00:00Z"},
    ],
    ids=["equal", "reversed", "equal-after-offset"],
)
def test_empty_production_window_is_422(client: TestClient, ore: JSON, params: JSON) -> None:
    add_sku(client)
    assert_problem(client.get(f"/v1/skus/{SKU}/origin", params=params), 422, ("produced_from", "produced_to"))


@pytest.mark.parametrize("name", ["produced_from", "produced_to"])
@pytest.mark.parametrize("value", ["2025-06-01T00:00:00", "yesterday", "2025-13-01T00:00:00Z", "2025-06-01"])
def test_bad_production_window_timestamp_is_422(client: TestClient, ore: JSON, name: str, value: str) -> None:
    add_sku(client)
    assert_problem(client.get(f"/v1/skus/{SKU}/origin", params={name: value}), 422, name)


@pytest.mark.parametrize("name", ["produced_from", "produced_to"])
@pytest.mark.parametrize("value", OUT_OF_UTC_RANGE)
def test_production_window_outside_the_utc_range_is_422(client: TestClient, ore: JSON, name: str, value: str) -> None:
    add_sku(client)
    assert_problem(client.get(f"/v1/skus/{SKU}/origin", params={name: value}), 422, name)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"max_depth": "0"}, "max_depth"),
        ({"max_depth": "deep"}, "max_depth"),
    ],
)
def test_bad_trace_query_is_422(client: TestClient, ore: JSON, params: JSON, field: str) -> None:
    assert_problem(client.get(f"/v1/lots/{ore['id']}/trace", params=params), 422, field)


# Never a 500 ----------------------------------------------------------------------------------

NESTED: Any = []
for _ in range(60):
    NESTED = [NESTED]
BY_CODE = {"lot_code": ORE, "organization": ORG, "quantity": "1"}


def raw_event(kind: str = "extraction", inputs: Any = None, outputs: Any = None, **fields: Any) -> JSON:
    """An event body built without the helpers' care: any field may hold anything."""
    body: JSON = {"type": kind, "facility": MINE, "occurred_at": T0 if kind in ("extraction", "receipt") else T1}
    if inputs is not None:
        body["inputs"] = inputs
    if outputs is not None:
        body["outputs"] = outputs
    return body | fields


def declaring(declared: Any) -> JSON:
    return raw_event("receipt", outputs=[out("X", composition={"Nd": "1"}, declared_origin=declared)])


ODD_BODIES: list[Any] = [
    NESTED,
    None,
    [],
    [{}],
    "str",
    "",
    1,
    -1.5,
    True,
    {},
    {"": ""},
    {"type": None},
    {"type": []},
    {"type": {"type": "extraction"}},
    {"code": None, "name": None, "country": None},
    {"code": {"a": 1}, "name": ["x"], "country": 1.5},
    {"code": "X", "name": "X", "country": "AU", "stages": None},
    {"code": "X", "name": "X", "country": "AU", "stages": [None, 1, {}]},
    {"code": "X", "name": "X", "country": "AU", "organization": None},
    {"sku": "X", "name": "X", "organization": ORG, "gtin": None},
    {"sku": "X", "name": "X", "organization": ORG, "gtin": ""},
    {"sku": "X", "name": "\u0000", "organization": ORG},
    {"code": "X", "name": "x" * 10_000, "country": "AU"},
    {"code": "X", "name": "   ", "country": "AU"},
    {"type": "processing", "inputs": "x", "outputs": {}},
    raw_event(),
    raw_event(outputs=[None]),
    raw_event(outputs=[{"code": "X", "composition": []}]),
    raw_event(outputs=[out("X", "ore", composition={"Nd": None})]),
    raw_event(outputs=[out("X", "ore", "1e999999", composition={})]),
    raw_event(outputs=[out("X", "ore", "1e-999999", composition={})]),
    raw_event(outputs=[out("X", "ore", "9" * 5000, composition={})]),
    raw_event(outputs=[out("X", "ore", "1" * 18 + "." + "1" * 12, composition={"Nd": "1" * 18 + "." + "1" * 12})]),
    raw_event(facility=None, occurred_at=None, outputs=None, inputs=None),
    declaring({}),
    declaring([None]),
    declaring([{"route": {}, "percent": "100"}]),
    declaring([{"route": {"mining": None}, "percent": "1"}]),
    declaring([{"route": {"mining": "AU"}, "percent": "1e999999"}]),
    raw_event("processing", [None], [out("X")]),
    raw_event("processing", [{"lot": None, "quantity": "1"}], [out("X")]),
    raw_event("processing", [{"lot": ["x"], "quantity": "1"}], [out("X")]),
    raw_event("processing", [{"lot": "x" * 100_000, "quantity": "1"}], [out("X")]),
    raw_event("processing", [BY_CODE], [{"code": "X"}]),
    raw_event("processing", [BY_CODE], [out("X", quantity="0.000000000001", unit="t")]),
    raw_event("processing", [BY_CODE | {"quantity": "0.000000000001"}], [out("X", unit="pcs"), out("Y", unit="pcs")]),
    raw_event("processing", [BY_CODE], [out("X", "ore", "1", composition={})], stage="mining"),
    raw_event("transfer", [BY_CODE], [{"code": "X"}]),
    raw_event("transfer", [BY_CODE], [{"code": "X", "facility": REFINERY, "sku": "NOPE"}]),
    raw_event("transfer", [], []),
    {"a": {"b": {"c": {"d": {"e": [[[[[[{"f": None}]]]]]]}}}}},
]
ODD_RAW: list[bytes] = [
    b"null",
    b"1e999999",
    b"9" * 10_000,
    b'{"code": ' + b"9" * 10_000 + b"}",
    b'"\\ud800"',
    b'{"code": "\\ud800", "name": "X", "country": "AU"}',
    b'{"code": "\\u0000", "name": "X", "country": "AU"}',
    b'{"type": "extraction", "type": "receipt"}',
    b"\xef\xbb\xbf{}",
    b"{}" * 1000,
    b'{"code": ' + b"[" * 900 + b"]" * 900 + b', "name": "X", "country": "AU"}',
    b'{"type": "extraction", "facility": "MINE", "occurred_at": "2025-06-01T00:00:00Z", "outputs": [{"code": "X", '
    b'"material": "ore", "quantity": "1", "unit": "kg", "composition": {"Nd": ' + b"[" * 900 + b"]" * 900 + b"}}]}",
]


def assert_never_500(response: Response, label: Any) -> None:
    assert response.status_code < 500, (label, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, (label, response.headers)


@pytest.mark.parametrize("path", [*POST_ROUTES, "/v1/events/{event}/void"])
def test_odd_bodies_never_answer_500(client: TestClient, ore: JSON, path: str) -> None:
    path = path.format(event=ore["event"])
    for body in ODD_BODIES:
        assert_never_500(client.post(path, json=body), body)
    for raw in ODD_RAW:
        assert_never_500(client.post(path, content=raw, headers={"Content-Type": "application/json"}), raw)


ODD_IDS = ["x" * 5000, "%00", "%FF", "..", "'; DROP TABLE lot; --", "\u00e9", " ", "1"]


@pytest.mark.parametrize(
    "template",
    [
        "/v1/lots/{}",
        "/v1/lots/{}/origin",
        "/v1/lots/{}/trace",
        "/v1/events/{}",
        "/v1/organizations/{}",
        "/v1/facilities/{}",
        "/v1/skus/{}",
        "/v1/skus/{}/origin",
    ],
)
def test_odd_ids_never_answer_500(client: TestClient, ore: JSON, template: str) -> None:
    for odd in ODD_IDS:
        response = client.get(template.format(odd))
        assert_never_500(response, odd)
        # The client resolves the dots: `/v1/skus/../origin` is `/v1/origin`, another route, with its own answer.
        if odd != "..":
            assert response.status_code in (404, 422), (odd, response.status_code)
    refused(client, "POST", "/v1/events/%00/void", 404)


ODD_QUERIES: list[dict[str, str]] = [
    {"countries": "," * 1000},
    {"countries": "CN" * 1000},
    {"stages": "mining," * 1000},
    {"threshold_percent": "1e999999"},
    {"threshold_percent": "9" * 5000},
    {"threshold_percent": "0." + "0" * 5000 + "1"},
    {"threshold_percent": "\u0000"},
    {"limit": "9" * 100},
    {"cursor": "eyJhZnRlciI6IG51bGx9"},
    {"cursor": "x" * 10_000},
    {"elements": "maybe"},
    {"max_depth": "9" * 100},
]


@pytest.mark.parametrize(
    "template",
    ["/v1/lots/{lot}/origin", f"/v1/skus/{SKU}/origin", "/v1/lots", "/v1/lots/{lot}", "/v1/lots/{lot}/trace"],
)
def test_odd_queries_never_answer_500(client: TestClient, ore: JSON, template: str) -> None:
    add_sku(client)
    for params in ODD_QUERIES:
        assert_never_500(client.get(template.format(lot=ore["id"]), params=params), params)
