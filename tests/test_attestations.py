"""Signed attestations over HTTP: the answer kept is the GET's answer as of the moment, signed, and verifiable.

Runs on the demo supply chain, on SQLite and PostgreSQL.
"""

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import signing
from service.app import create_app
from service.config import Settings
from service.demo import load_demo
from tests.conftest import ADMIN_KEY
from tests.helpers import post_ok
from tests.servers import run_lodestone

SKU = "EV-MOTOR-200"
PAYLOAD_KEYS = {"id", "of", "subject", "question", "rules", "on", "as_of", "issued_at", "kid", "audit_head", "answer"}


@pytest.fixture
def demo(client: TestClient) -> TestClient:
    assert load_demo(client.app.state.engine)  # type: ignore[attr-defined]
    return client


def verified(client: TestClient, jws: str) -> dict[str, Any]:
    return signing.verify(jws, client.get("/.well-known/jwks.json").json())


def attest(client: TestClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = client.post("/v1/attestations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert set(created) == {"id", "issued_at", "kid", "jws"}
    return created


def key(client: TestClient, organization: str, role: str) -> str:
    created = post_ok(client, "/v1/api-keys", {"organization": organization, "role": role, "name": f"{role} key"})
    return f"Bearer {created['key']}"


def counts(client: TestClient) -> tuple[int, int]:
    """How many attestations and audit entries there are."""
    attestations = len(client.get("/v1/attestations", params={"limit": 500}).json()["items"])
    return attestations, len(client.get("/v1/audit", params={"limit": 500}).json()["items"])


def test_the_rules_answer_attested_is_the_gets_answer_as_of_the_moment(demo: TestClient) -> None:
    created = attest(demo, {"subject": {"kind": "sku", "sku": SKU}, "rules": ["dfars-7052"], "on": "2027-01-01"})
    payload = verified(demo, created["jws"])
    assert set(payload) == PAYLOAD_KEYS
    assert (payload["id"], payload["kid"], payload["issued_at"]) == (
        created["id"],
        created["kid"],
        created["issued_at"],
    )
    assert payload["as_of"] == payload["issued_at"]
    assert (payload["of"], payload["subject"], payload["rules"], payload["on"], payload["question"]) == (
        "compliance", {"kind": "sku", "sku": SKU}, ["dfars-7052"], "2027-01-01", None
    )  # fmt: skip
    again = demo.get(f"/v1/skus/{SKU}/compliance", params={"rules": "dfars-7052", "on": "2027-01-01",
                                                          "as_of": payload["as_of"]})  # fmt: skip
    assert payload["answer"] == again.json()
    assert payload["answer"]["results"][0]["answer"] == "yes"


def test_the_audit_head_is_the_chain_before_the_attestations_own_entry(demo: TestClient) -> None:
    post_ok(demo, "/v1/organizations", {"code": "AUDITED", "name": "Audited", "country": "DE"})
    created = attest(demo, {"subject": {"kind": "sku", "sku": SKU}})
    head = verified(demo, created["jws"])["audit_head"]
    entries = demo.get("/v1/audit", params={"limit": 500}).json()["items"]
    own = next(e for e in entries if e["subject"] == created["id"])
    assert own["action"] == "attestation.issued"
    assert (own["seq"], own["prev_hash"]) == (head["seq"] + 1, head["hash"])
    assert demo.get("/v1/audit/verify").json()["ok"] is True


def test_a_plain_question_for_a_sku_and_a_lot_and_the_disclosure(demo: TestClient) -> None:
    question = {"countries": ["CN", "MM"], "stages": ["mining", "refining"], "threshold_percent": "0.5"}
    created = attest(demo, {"subject": {"kind": "sku", "sku": SKU}, "question": question})
    payload = verified(demo, created["jws"])
    assert payload["question"] == {"countries": ["CN", "MM"], "stages": ["mining", "refining"], "elements": None,
                                   "threshold_percent": "0.5"}  # fmt: skip
    params = {"countries": "CN,MM", "stages": "mining,refining", "threshold_percent": "0.5", "as_of": payload["as_of"]}
    assert payload["answer"] == demo.get(f"/v1/skus/{SKU}/origin", params=params).json()

    lot = demo.get(f"/v1/skus/{SKU}/origin").json()["lots"][0]["id"]
    asked: list[tuple[dict[str, Any], str, dict[str, str]]] = [
        ({"question": {}}, f"/v1/lots/{lot}/origin", {}),
        ({"question": {"elements": ["Dy"]}}, f"/v1/lots/{lot}/origin", {"elements": "Dy"}),
        ({"rules": None, "on": "2027-01-10"}, f"/v1/lots/{lot}/compliance", {"on": "2027-01-10"}),
    ]
    for body, url, params in asked:
        payload = verified(demo, attest(demo, {"subject": {"kind": "lot", "id": lot}, **body})["jws"])
        assert payload["answer"] == demo.get(url, params=params | {"as_of": payload["as_of"]}).json(), url

    payload = verified(demo, attest(demo, {"subject": {"kind": "sku", "sku": SKU}, "of": "disclosure"})["jws"])
    assert payload["of"] == "disclosure"
    assert payload["answer"] == demo.get(f"/v1/skus/{SKU}/disclosure", params={"as_of": payload["as_of"]}).json()


def test_an_attestation_as_of_a_past_moment_leaves_out_what_came_after(demo: TestClient) -> None:
    before = demo.get(f"/v1/skus/{SKU}/origin").json()
    receipt = {"type": "receipt", "facility": "ACME-TX", "occurred_at": "2026-11-01T00:00:00Z", "outputs": [
        {"code": "LATE-1", "material": "product", "quantity": "1", "unit": "pcs", "composition": {"Dy": "1"},
         "sku": SKU}]}  # fmt: skip
    post_ok(demo, "/v1/events", receipt)
    now = demo.get(f"/v1/skus/{SKU}/origin").json()
    assert now["lots_count"] == before["lots_count"] + 1
    payload = verified(demo, attest(demo, {"subject": {"kind": "sku", "sku": SKU}, "question": {},
                                           "as_of": before["as_of"]})["jws"])  # fmt: skip
    assert payload["as_of"] == before["as_of"]
    assert payload["answer"] == before


def test_read_back_listed_by_subject_and_paginated(demo: TestClient) -> None:
    lot = demo.get(f"/v1/skus/{SKU}/origin").json()["lots"][0]["id"]
    made = [attest(demo, {"subject": {"kind": "sku", "sku": SKU}}) for _ in range(3)]
    made.append(attest(demo, {"subject": {"kind": "lot", "id": lot}, "question": {}}))
    one = demo.get(f"/v1/attestations/{made[0]['id']}").json()
    assert {k: one[k] for k in ("id", "issued_at", "kid", "jws")} == made[0]
    assert one["subject"] == {"kind": "sku", "sku": SKU}
    assert one["payload"] == verified(demo, one["jws"])
    assert [a["id"] for a in demo.get("/v1/attestations", params={"sku": SKU}).json()["items"]] == [
        m["id"] for m in made[:3]
    ]
    assert [a["id"] for a in demo.get("/v1/attestations", params={"lot": lot}).json()["items"]] == [made[3]["id"]]
    first = demo.get("/v1/attestations", params={"limit": 2}).json()
    second = demo.get("/v1/attestations", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [a["id"] for a in first["items"] + second["items"]] == [m["id"] for m in made]
    assert second["next_cursor"] is None
    assert demo.get("/v1/attestations/0b1f7f5e-7c55-4a8a-9a55-3a8c4e2d9f10").status_code == 404
    assert demo.get("/v1/attestations/not-an-id").status_code == 404


def test_who_may_attest(demo: TestClient) -> None:
    body = {"subject": {"kind": "sku", "sku": SKU}}
    acme_lot = demo.get(f"/v1/skus/{SKU}/origin").json()["lots"][0]["id"]
    assert attest(demo, body, Authorization=key(demo, "LYNAS", "auditor"))
    assert attest(demo, body, Authorization=key(demo, "ACME", "recorder"))
    assert attest(demo, {"subject": {"kind": "lot", "id": acme_lot}}, Authorization=key(demo, "ACME", "recorder"))
    other, viewer = key(demo, "LYNAS", "recorder"), key(demo, "ACME", "viewer")
    before = counts(demo)
    for authorization, subject in [(other, body["subject"]), (viewer, body["subject"])]:
        response = demo.post("/v1/attestations", json={"subject": subject}, headers={"Authorization": authorization})
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
    # Another organization's lot is not refused (which would confirm it exists) but not found, as no lot is.
    for lot_id in (acme_lot, "0b1f7f5e-7c55-4a8a-9a55-3a8c4e2d9f10"):
        response = demo.post("/v1/attestations", json={"subject": {"kind": "lot", "id": lot_id}},
                             headers={"Authorization": other})  # fmt: skip
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["subject.id"]
        assert response.json()["errors"][0]["message"].startswith(f"No lot has the id {lot_id!r}")
    assert counts(demo) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": {"kind": "sku", "sku": "NO-SUCH-SKU"}}, "subject.sku"),
        ({"subject": {"kind": "lot", "id": "0b1f7f5e-7c55-4a8a-9a55-3a8c4e2d9f10"}}, "subject.id"),
        ({"subject": {"kind": "sku", "sku": SKU}, "question": {}, "rules": ["dfars-7052"]}, "rules"),
        ({"subject": {"kind": "sku", "sku": SKU}, "question": {}, "on": "2027-01-01"}, "on"),
        ({"subject": {"kind": "sku", "sku": SKU}, "question": {"countries": ["XX"]}}, "question.countries"),
        (
            {"subject": {"kind": "sku", "sku": SKU}, "question": {"threshold_percent": "101"}},
            "question.threshold_percent",
        ),
        ({"subject": {"kind": "sku", "sku": SKU}, "rules": ["no-such-rule"]}, "rules"),
        ({"subject": {"kind": "sku", "sku": SKU}, "as_of": "2999-01-01T00:00:00Z"}, "as_of"),
        ({"subject": {"kind": "sku", "sku": SKU}, "as_of": "2026-01-01T00:00:00"}, "as_of"),
        ({"subject": {"kind": "sku", "sku": SKU}, "as_of": "2020-01-01T00:00:00Z"}, "subject.sku"),
        ({"subject": {"kind": "sku", "sku": SKU}, "of": "disclosure", "rules": []}, "of"),
        ({"subject": {"kind": "box", "sku": SKU}}, "subject"),
        ({"subject": {"kind": "sku", "sku": SKU}, "signature": "mine"}, "signature"),
        ({"subject": {"kind": "sku", "sku": SKU}, "lots_limit": 1001}, "lots_limit"),
    ],
)
def test_a_bad_request_is_422_naming_the_field_and_records_nothing(
    demo: TestClient, body: dict[str, Any], field: str
) -> None:
    before = counts(demo)
    response = demo.post("/v1/attestations", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    assert counts(demo) == before


def test_a_custom_rule_created_after_as_of_is_refused(demo: TestClient) -> None:
    moment = demo.get(f"/v1/skus/{SKU}/origin").json()["as_of"]
    rule = {"id": "LATER", "title": "Later", "versions": [{
        "version": "v1", "effective_from": "2026-01-01", "effective_to": None, "in_force": True, "countries": ["CN"],
        "stages": ["refining"], "elements": None, "basis": "mass", "threshold_percent": "0",
        "threshold_inclusive": False, "subject_materials": None}]}  # fmt: skip
    post_ok(demo, "/v1/rules", rule)
    response = demo.post("/v1/attestations", json={"subject": {"kind": "sku", "sku": SKU}, "rules": ["LATER"],
                                                   "as_of": moment})  # fmt: skip
    assert response.status_code == 422
    assert demo.get(f"/v1/skus/{SKU}/compliance", params={"rules": "LATER", "as_of": moment}).status_code == 422
    assert demo.get(f"/v1/skus/{SKU}/compliance", params={"rules": "LATER"}).status_code == 200


def test_a_tampered_attestation_does_not_verify(demo: TestClient) -> None:
    jws = attest(demo, {"subject": {"kind": "sku", "sku": SKU}})["jws"]
    header, payload, signature = jws.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["answer"]["results"][0]["answer"] = "no"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(signing.VerificationError):
        verified(demo, f"{header}.{forged}.{signature}")


def test_the_command_line_verifies_an_attestation_saved_to_a_file(
    demo: TestClient, database_url: str, tmp_path: Path
) -> None:
    created = attest(demo, {"subject": {"kind": "sku", "sku": SKU}, "rules": ["dfars-7052"], "on": "2027-01-01"})
    saved = tmp_path / "attestation.json"
    saved.write_text(json.dumps(created))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(demo.get("/.well-known/jwks.json").text)
    for extra in [(), ("--jwks", str(jwks))]:
        verified_run = run_lodestone(database_url, "attestation", "verify", str(saved), *extra)
        assert verified_run.returncode == 0, verified_run.stderr
        assert f"verified: signed by key {created['kid']}" in verified_run.stdout
        assert SKU in verified_run.stdout
        assert "dfars-7052" in verified_run.stdout
    saved.write_text(json.dumps(created | {"jws": created["jws"][:-4] + "AAAA"}))
    refused = run_lodestone(database_url, "attestation", "verify", str(saved), "--jwks", str(jwks))
    assert refused.returncode == 1
    assert refused.stderr.startswith("not verified:")


@pytest.fixture
def keyless(database_url: str) -> Iterator[TestClient]:
    """The app on PostgreSQL with no signing key configured (SQLite always has one beside its file)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("only a server database can be left without a signing key; SQLite generates one beside its file")
    app = create_app(Settings(database_url=database_url, admin_key=ADMIN_KEY))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def test_without_a_signing_key_attesting_is_503_and_records_nothing(keyless: TestClient) -> None:
    assert load_demo(keyless.app.state.engine)  # type: ignore[attr-defined]
    before = counts(keyless)
    response = keyless.post("/v1/attestations", json={"subject": {"kind": "sku", "sku": SKU}})
    assert response.status_code == 503
    assert "LODESTONE_SIGNING_KEY" in response.json()["detail"]
    assert counts(keyless) == before


def test_a_disclosure_asked_with_attest_is_signed_and_names_its_attestation(demo: TestClient) -> None:
    found = demo.get(f"/v1/skus/{SKU}/disclosure", params={"attest": "true"})
    assert found.status_code == 200, found.text
    body = found.json()
    kept = demo.get(f"/v1/attestations/{body['attestation']}").json()
    payload = verified(demo, kept["jws"])
    assert payload["of"] == "disclosure"
    assert payload["answer"] == {k: v for k, v in body.items() if k != "attestation"}
    assert payload["answer"] == demo.get(f"/v1/skus/{SKU}/disclosure", params={"as_of": payload["as_of"]}).json()
    page = demo.get(f"/v1/skus/{SKU}/disclosure", params={"attest": "true"}, headers={"Accept": "text/html"})
    assert page.status_code == 200
    newest = demo.get("/v1/attestations", params={"sku": SKU}).json()["items"][-1]["id"]
    assert newest in page.text
    assert newest != body["attestation"]
    viewer = key(demo, "ACME", "viewer")
    before = counts(demo)
    refused = demo.get(f"/v1/skus/{SKU}/disclosure", params={"attest": "true"}, headers={"Authorization": viewer})
    assert refused.status_code == 403
    assert demo.get(f"/v1/skus/{SKU}/disclosure", headers={"Authorization": viewer}).status_code == 200
    assert demo.get("/v1/skus/NOPE/disclosure", params={"attest": "true"}).status_code == 404
    assert demo.get("/v1/skus/%3B/disclosure", params={"attest": "true"}).status_code == 404  # found by schemathesis
    assert counts(demo) == before
