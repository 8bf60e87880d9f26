"""Who may do what: keys per organization, the whole role x route matrix, revocation."""

import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.config import Settings
from service.epcis import GS1_CONTEXT
from tests.helpers import event, lot_input, post_ok

ROLES = ("admin", "manager", "recorder", "auditor", "viewer")
counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(counter)}"


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    lot: str
    event: str

    def call(self, role: str, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        status: int = self.client.request(method, path, json=body, headers=headers).status_code
        return status


def extraction(facility: str) -> dict[str, Any]:
    return event("extraction", facility, outputs=[
        {"code": unique("ORE"), "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}
    ])  # fmt: skip


@pytest.fixture
def world(client: TestClient) -> World:
    """Organizations OWN and OTHER, a mine each, a lot and a SKU; one key of OWN per role."""
    for org in ("OWN", "OTHER"):
        post_ok(client, "/v1/organizations", {"code": org, "name": org, "country": "AU"})
        post_ok(client, "/v1/facilities", {"code": f"{org}-MINE", "name": "Mine", "organization": org,
                                           "country": "AU", "stages": ["mining"]})  # fmt: skip
    post_ok(client, "/v1/skus", {"sku": "OWN-SKU", "name": "Widget", "organization": "OWN"})
    post_ok(client, "/v1/skus", {"sku": "OTHER-SKU", "name": "Gadget", "organization": "OTHER"})
    recorded = post_ok(client, "/v1/events", extraction("OWN-MINE"))
    keys = {
        role: post_ok(client, "/v1/api-keys", {"organization": "OWN", "role": role, "name": f"{role} key"})["key"]
        for role in ROLES
    }
    return World(client, keys, recorded["outputs"][0]["id"], recorded["id"])


def fresh_void_path(world: World, facility: str) -> str:
    """A new event to void, so that every role's attempt meets one that is not voided yet."""
    return f"/v1/events/{post_ok(world.client, '/v1/events', extraction(facility))['id']}/void"


def fresh_organization(world: World) -> str:
    """A new organization, so every role's attempt to list it meets one not listed yet."""
    code = unique("PARTNER")
    post_ok(world.client, "/v1/organizations", {"code": code, "name": code, "country": "DE"})
    return code


def listed_maker(world: World) -> str:
    code = fresh_organization(world)
    post_ok(world.client, "/v1/skus/OWN-SKU/makers", {"organization": code})
    return code


def listed_supplier(world: World) -> str:
    code = fresh_organization(world)
    post_ok(world.client, "/v1/organizations/OWN/suppliers", {"organization": code})
    return code


def epcis_extraction(world: World, facility: str) -> dict[str, Any]:
    """An EPCIS document recording one new extraction at the facility (by its URI under the default base)."""
    return {
        "@context": [GS1_CONTEXT, {"ls": "urn:lodestone:epcis:1:"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-06-01T00:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": "2025-06-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
            "action": "ADD", "bizStep": "commissioning", "bizLocation": {"id": f"urn:lodestone:facility/{facility}"},
            "quantityList": [{"epcClass": f"urn:lodestone:lot/X/{unique('EP')}", "quantity": 5, "uom": "KGM"}],
            "ilmd": {"ls:lots": [{"ls:material": "ore", "ls:composition": {"ls:Nd": "1"}}]},
        }]},
    }  # fmt: skip


def captured_job(world: World) -> str:
    answer = world.client.post("/v1/epcis/capture", json=epcis_extraction(world, "OWN-MINE"))
    assert answer.status_code == 202, answer.text
    return str(answer.headers["location"])


def fresh_date() -> str:
    """A date no price of the matrix has yet, so every role's attempt meets no duplicate."""
    return (date(2000, 1, 1) + timedelta(days=next(counter))).isoformat()


@dataclass(frozen=True)
class Cell:
    """One route, asked in a way each role may or may not: ``allowed`` get ``ok``, the rest 403."""

    name: str
    method: str
    path: Callable[[World], str]
    allowed: frozenset[str]
    ok: int = 200
    body: Callable[[World], dict[str, Any]] | None = None
    # A refused role answered otherwise than 403, e.g. 404 where even the existence is none of its business.
    refused: tuple[tuple[str, int], ...] = ()


EVERYONE = frozenset(ROLES)
MATERIAL = frozenset({"admin", "manager", "recorder", "auditor"})
WRITERS = frozenset({"admin", "manager", "recorder"})
KEY_MANAGERS = frozenset({"admin", "manager"})
ADMIN = frozenset({"admin"})
AUDIT = frozenset({"admin", "auditor"})
ATTESTERS = frozenset({"admin", "manager", "recorder", "auditor"})

MATRIX = [
    Cell("list organizations", "GET", lambda w: "/v1/organizations", EVERYONE),
    Cell("get organization", "GET", lambda w: "/v1/organizations/OWN", EVERYONE),
    Cell("create organization", "POST", lambda w: "/v1/organizations", ADMIN, 201,
         lambda w: {"code": unique("ORG"), "name": "New", "country": "DE"}),
    Cell("list facilities", "GET", lambda w: "/v1/facilities", EVERYONE),
    Cell("get facility", "GET", lambda w: "/v1/facilities/OWN-MINE", EVERYONE),
    Cell("create own facility", "POST", lambda w: "/v1/facilities", WRITERS, 201,
         lambda w: {"code": unique("FAC"), "name": "F", "organization": "OWN", "country": "AU", "stages": []}),
    Cell("create another's facility", "POST", lambda w: "/v1/facilities", ADMIN, 201,
         lambda w: {"code": unique("FAC"), "name": "F", "organization": "OTHER", "country": "AU", "stages": []}),
    Cell("list SKUs", "GET", lambda w: "/v1/skus", EVERYONE),
    Cell("get SKU", "GET", lambda w: "/v1/skus/OWN-SKU", EVERYONE),
    Cell("create own SKU", "POST", lambda w: "/v1/skus", WRITERS, 201,
         lambda w: {"sku": unique("SKU"), "name": "S", "organization": "OWN"}),
    Cell("create another's SKU", "POST", lambda w: "/v1/skus", ADMIN, 201,
         lambda w: {"sku": unique("SKU"), "name": "S", "organization": "OTHER"}),
    Cell("record at own facility", "POST", lambda w: "/v1/events", WRITERS, 201, lambda w: extraction("OWN-MINE")),
    Cell("record at another's facility", "POST", lambda w: "/v1/events", ADMIN, 201,
         lambda w: extraction("OTHER-MINE")),
    Cell("record a batch at own facility", "POST", lambda w: "/v1/events/batch", WRITERS, 201,
         lambda w: {"events": [extraction("OWN-MINE")]}),
    Cell("record a batch at another's facility", "POST", lambda w: "/v1/events/batch", ADMIN, 201,
         lambda w: {"events": [extraction("OTHER-MINE")]}),
    Cell("get event", "GET", lambda w: f"/v1/events/{w.event}", MATERIAL),
    Cell("void own event", "POST", lambda w: fresh_void_path(w, "OWN-MINE"), WRITERS, 200, lambda w: {}),
    Cell("void another's event", "POST", lambda w: fresh_void_path(w, "OTHER-MINE"), ADMIN, 200, lambda w: {}),
    Cell("list lots", "GET", lambda w: "/v1/lots", MATERIAL),
    Cell("get lot", "GET", lambda w: f"/v1/lots/{w.lot}", MATERIAL),
    Cell("trace lot", "GET", lambda w: f"/v1/lots/{w.lot}/trace", MATERIAL),
    Cell("assess lot", "GET", lambda w: f"/v1/lots/{w.lot}/origin", EVERYONE),
    Cell("assess SKU", "GET", lambda w: "/v1/skus/OWN-SKU/origin", EVERYONE),
    Cell("lot compliance", "GET", lambda w: f"/v1/lots/{w.lot}/compliance", EVERYONE),
    Cell("SKU compliance", "GET", lambda w: "/v1/skus/OWN-SKU/compliance", EVERYONE),
    Cell("list every SKU's rules' answers", "GET", lambda w: "/v1/compliance?on=2027-01-01", EVERYONE),
    Cell("list every SKU's answer", "GET", lambda w: "/v1/origin?answer=unknown", EVERYONE),
    Cell("disclose SKU", "GET", lambda w: "/v1/skus/OWN-SKU/disclosure", EVERYONE),
    Cell("disclose and attest own SKU", "GET", lambda w: "/v1/skus/OWN-SKU/disclosure?attest=true", ATTESTERS),
    Cell("SKU flows", "GET", lambda w: "/v1/skus/OWN-SKU/flows", EVERYONE),
    Cell("SKU report", "GET", lambda w: "/v1/skus/OWN-SKU/report", EVERYONE),
    Cell("attest own SKU", "POST", lambda w: "/v1/attestations", ATTESTERS, 201,
         lambda w: {"subject": {"kind": "sku", "sku": "OWN-SKU"}}),
    Cell("attest own lot", "POST", lambda w: "/v1/attestations", ATTESTERS, 201,
         lambda w: {"subject": {"kind": "lot", "id": w.lot}, "question": {}}),
    Cell("attest another's SKU", "POST", lambda w: "/v1/attestations", AUDIT, 201,
         lambda w: {"subject": {"kind": "sku", "sku": "OTHER-SKU"}}),
    Cell("list attestations", "GET", lambda w: "/v1/attestations", EVERYONE),
    Cell("list own SKU's makers", "GET", lambda w: "/v1/skus/OWN-SKU/makers", EVERYONE),
    Cell("list another's SKU's makers", "GET", lambda w: "/v1/skus/OTHER-SKU/makers", AUDIT),
    Cell("add own SKU's maker", "POST", lambda w: "/v1/skus/OWN-SKU/makers", KEY_MANAGERS, 201,
         lambda w: {"organization": fresh_organization(w)}),
    Cell("add another's SKU's maker", "POST", lambda w: "/v1/skus/OTHER-SKU/makers", ADMIN, 201,
         lambda w: {"organization": fresh_organization(w)}),
    Cell("remove own SKU's maker", "DELETE", lambda w: "/v1/skus/OWN-SKU/makers/" + listed_maker(w), KEY_MANAGERS,
         204),
    Cell("list own suppliers", "GET", lambda w: "/v1/organizations/OWN/suppliers", EVERYONE),
    Cell("list another's suppliers", "GET", lambda w: "/v1/organizations/OTHER/suppliers", AUDIT),
    Cell("add own supplier", "POST", lambda w: "/v1/organizations/OWN/suppliers", KEY_MANAGERS, 201,
         lambda w: {"organization": fresh_organization(w)}),
    Cell("add another's supplier", "POST", lambda w: "/v1/organizations/OTHER/suppliers", ADMIN, 201,
         lambda w: {"organization": fresh_organization(w)}),
    Cell("remove own supplier", "DELETE", lambda w: "/v1/organizations/OWN/suppliers/" + listed_supplier(w),
         KEY_MANAGERS, 204),
    # Issued by the operator: read by admins and auditors; an organization's keys read only its own (not found).
    Cell("get the operator's attestation", "GET", lambda w: "/v1/attestations/" + post_ok(
        w.client, "/v1/attestations", {"subject": {"kind": "sku", "sku": "OWN-SKU"}})["id"], AUDIT,
         refused=(("manager", 404), ("recorder", 404), ("viewer", 404))),
    Cell("list rules", "GET", lambda w: "/v1/rules", EVERYONE),
    Cell("get rule", "GET", lambda w: "/v1/rules/dfars-7052", EVERYONE),
    Cell("create rule", "POST", lambda w: "/v1/rules", ADMIN, 201, lambda w: {"id": unique("RULE"), "title": "R",
         "versions": [{"version": "v1", "effective_from": "2026-01-01", "effective_to": None, "in_force": True,
                       "countries": ["CN"], "stages": ["refining"], "elements": None, "basis": "mass",
                       "threshold_percent": "0", "threshold_inclusive": False, "subject_materials": None}]}),
    Cell("create another's key", "POST", lambda w: "/v1/api-keys", ADMIN, 201,
         lambda w: {"organization": "OTHER", "role": "viewer", "name": "k"}),
    Cell("create own viewer key", "POST", lambda w: "/v1/api-keys", KEY_MANAGERS, 201,
         lambda w: {"organization": "OWN", "role": "viewer", "name": "k"}),
    Cell("create own admin key", "POST", lambda w: "/v1/api-keys", ADMIN, 201,
         lambda w: {"organization": "OWN", "role": "admin", "name": "k"}),
    Cell("create own auditor key", "POST", lambda w: "/v1/api-keys", ADMIN, 201,
         lambda w: {"organization": "OWN", "role": "auditor", "name": "k"}),
    Cell("list keys", "GET", lambda w: "/v1/api-keys", KEY_MANAGERS),
    Cell("revoke another's key", "DELETE", lambda w: "/v1/api-keys/" + post_ok(
        w.client, "/v1/api-keys", {"organization": "OTHER", "role": "viewer", "name": "k"})["id"], ADMIN,
         refused=(("manager", 404),)),
    Cell("revoke own key", "DELETE", lambda w: "/v1/api-keys/" + post_ok(
        w.client, "/v1/api-keys", {"organization": "OWN", "role": "recorder", "name": "k"})["id"], KEY_MANAGERS),
    Cell("list prices", "GET", lambda w: "/v1/prices", EVERYONE),
    Cell("record price", "POST", lambda w: "/v1/prices", ADMIN, 201,
         lambda w: {"element": "Dy", "currency": "USD", "price_per_kg": "250", "valid_from": fresh_date()}),
    Cell("capture EPCIS at own facility", "POST", lambda w: "/v1/epcis/capture", WRITERS, 202,
         lambda w: epcis_extraction(w, "OWN-MINE")),
    Cell("capture EPCIS at another's facility", "POST", lambda w: "/v1/epcis/capture", ADMIN, 202,
         lambda w: epcis_extraction(w, "OTHER-MINE")),
    Cell("capture one EPCIS event at own facility", "POST", lambda w: "/v1/epcis/events", WRITERS, 201,
         lambda w: {"@context": [GS1_CONTEXT, {"ls": "urn:lodestone:epcis:1:"}]}
         | epcis_extraction(w, "OWN-MINE")["epcisBody"]["eventList"][0]),
    Cell("EPCIS capture options", "OPTIONS", lambda w: "/v1/epcis/capture", EVERYONE, 204),
    Cell("list EPCIS capture jobs", "GET", lambda w: "/v1/epcis/capture", MATERIAL),
    # Sent with the operator's key: admins and auditors read it; an organization's keys find no such job.
    Cell("get the operator's capture job", "GET", captured_job, AUDIT,
         refused=(("manager", 404), ("recorder", 404), ("viewer", 403))),
    Cell("query EPCIS events", "GET", lambda w: "/v1/epcis/events", MATERIAL),
    Cell("get an EPCIS event", "GET", lambda w: f"/v1/epcis/events/urn:uuid:{w.event}", MATERIAL),
    Cell("list EPCIS event types", "GET", lambda w: "/v1/epcis/eventTypes", MATERIAL),
    Cell("export own lot as EPCIS", "GET", lambda w: f"/v1/lots/{w.lot}/epcis", MATERIAL),
    Cell("read audit", "GET", lambda w: "/v1/audit", AUDIT),
    Cell("verify audit", "GET", lambda w: "/v1/audit/verify", AUDIT),
    Cell("scrape metrics", "GET", lambda w: "/metrics", AUDIT),
]  # fmt: skip


def test_role_by_route_matrix(world: World) -> None:
    cells = 0
    for cell, role in itertools.product(MATRIX, ROLES):
        body = cell.body(world) if cell.body else None
        status = world.call(role, cell.method, cell.path(world), body)
        expected = cell.ok if role in cell.allowed else dict(cell.refused).get(role, 403)
        assert status == expected, (cell.name, role, status)
        cells += 1
    assert cells == len(MATRIX) * len(ROLES) == 355
    print(f"role matrix: {cells} cells asserted")


def test_recorder_consumes_only_its_own_lots(world: World) -> None:
    client = world.client
    other = post_ok(client, "/v1/events", extraction("OTHER-MINE"))["outputs"][0]
    body = event("processing", "OTHER-MINE", stage="mining", inputs=[lot_input(other["code"], "1", "OTHER")],
                 outputs=[{"code": unique("C"), "material": "concentrate", "quantity": "1", "unit": "kg"}])  # fmt: skip
    response = client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {world.keys['recorder']}"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/lots/{other['id']}").json()["remaining"] == "10"


def test_key_is_shown_once_stored_hashed_and_revocable(world: World, settings: Settings) -> None:
    client = world.client
    created = post_ok(client, "/v1/api-keys", {"organization": "OWN", "role": "viewer", "name": "portal"})
    secret = created["key"]
    assert {"id", "organization", "role", "name", "created_at"} <= set(created)
    listed = client.get("/v1/api-keys").json()["items"]
    assert all("key" not in item for item in listed)
    assert secret not in str(listed)
    engine = sa.create_engine(settings.database_url)
    with engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT key_hash FROM api_key WHERE id = :id"), {"id": created["id"]}
        ).scalar()
        everything = str(connection.execute(sa.text("SELECT * FROM api_key")).all())
    engine.dispose()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in everything
    assert client.get("/v1/skus", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    revoked = client.delete(f"/v1/api-keys/{created['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    # A write checks the database at once; a read trusts what it last saw for at most key_cache_seconds.
    write = client.post(
        "/v1/skus",
        json={"sku": "NEW", "name": "n", "organization": "OWN"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert write.status_code == 401
    time.sleep(settings.key_cache_seconds)
    response = client.get("/v1/skus", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 409


def test_key_for_unknown_organization_or_role_is_422(client: TestClient) -> None:
    assert client.post("/v1/api-keys", json={"organization": "NOPE", "role": "viewer", "name": "k"}).status_code == 422
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
    assert client.post("/v1/api-keys", json={"organization": "ORG", "role": "root", "name": "k"}).status_code == 422


def test_a_manager_manages_its_own_organizations_keys_and_no_others(world: World) -> None:
    client, manager = world.client, {"Authorization": f"Bearer {world.keys['manager']}"}
    theirs = post_ok(client, "/v1/api-keys", {"organization": "OTHER", "role": "manager", "name": "theirs"})
    listed = client.get("/v1/api-keys", headers=manager).json()["items"]
    assert {key["organization"] for key in listed} == {"OWN"}
    assert theirs["id"] not in {key["id"] for key in listed}
    assert len(listed) == len(ROLES)
    own_admin = next(key for key in listed if key["role"] == "admin")
    refused = client.delete(f"/v1/api-keys/{own_admin['id']}", headers=manager)
    assert refused.status_code == 403
    assert client.delete(f"/v1/api-keys/{theirs['id']}", headers=manager).status_code == 404
    made = client.post("/v1/api-keys", json={"organization": "OWN", "role": "recorder", "name": "ERP"}, headers=manager)
    assert made.status_code == 201
    recorder = {"Authorization": f"Bearer {made.json()['key']}"}
    assert client.post("/v1/events", json=extraction("OWN-MINE"), headers=recorder).status_code == 201
    assert client.post("/v1/events", json=extraction("OTHER-MINE"), headers=manager).status_code == 403
    assert client.post("/v1/events", json=extraction("OWN-MINE"), headers=manager).status_code == 201
    # Revoked by the manager that made it: 401 at once.
    assert client.delete(f"/v1/api-keys/{made.json()['id']}", headers=manager).status_code == 200
    assert client.get("/v1/skus", headers=recorder).status_code == 401
    audit = client.get("/v1/audit", params={"action": "key.created"}).json()["items"]
    assert any(entry["subject"] == made.json()["id"] and entry["organization"] == "OWN" for entry in audit)
