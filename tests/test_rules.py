"""Compliance rules over HTTP: the built-ins as shipped, custom rules added by an admin, and every refusal."""

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.contract import CONTRACT_DIR
from service.rules import BUILTIN_RULES
from tests.helpers import post_ok

VECTORS = CONTRACT_DIR / "vectors"
RULE_FILES = ("13-rules-mass.json", "15-rules-dates.json")
BUILTIN = json.loads((CONTRACT_DIR / "rules.json").read_text(encoding="utf-8"))


def custom(rule_id: str = "ACME-1", **version: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "title": "ACME policy",
        "versions": [
            {
                "version": "v1",
                "effective_from": "2026-01-01",
                "effective_to": None,
                "in_force": True,
                "countries": ["CN"],
                "stages": ["refining"],
                "elements": None,
                "basis": "mass",
                "threshold_percent": "0",
                "threshold_inclusive": False,
                "subject_materials": None,
                **version,
            }
        ],
    }


def rule_steps(name: str) -> list[dict[str, Any]]:
    steps = json.loads((VECTORS / name).read_text(encoding="utf-8"))["steps"]
    return [step for step in steps if "rule" in step or "get_rule" in step]


def recorded(client: TestClient) -> tuple[list[str], int]:
    """What a refusal must leave as it was: the rules listed and the audit trail's length."""
    ids = [rule["id"] for rule in client.get("/v1/rules", params={"limit": 500}).json()["items"]]
    return ids, client.get("/v1/audit/verify").json()["entries"]


def test_builtin_rules_are_listed_exactly_as_shipped(client: TestClient) -> None:
    response = client.get("/v1/rules")
    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    assert page["items"] == sorted(BUILTIN, key=lambda rule: rule["id"])
    assert [rule.id for rule in BUILTIN_RULES] == ["dfars-7052", "mofcom-18", "mofcom-57", "mofcom-61"]


def test_get_one_rule_and_404(client: TestClient) -> None:
    shipped = next(rule for rule in BUILTIN if rule["id"] == "dfars-7052")
    assert client.get("/v1/rules/dfars-7052").json() == shipped
    response = client.get("/v1/rules/no-such-rule")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_post_a_custom_rule_then_read_it_back(client: TestClient) -> None:
    body = custom("ACME-DFARS", exemptions=[{"mining": "recycled", "magnet_making": "US"}])
    body["builtin"] = True  # ignored: a posted rule is custom
    response = client.post("/v1/rules", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["builtin"] is False
    assert created["authority"] is None
    assert created["notes"] is None
    assert created["versions"][0]["exemptions"] == [{"mining": "recycled", "magnet_making": "US"}]
    assert client.get("/v1/rules/ACME-DFARS").json() == created
    listed = client.get("/v1/rules").json()["items"]
    assert [rule["id"] for rule in listed] == ["ACME-DFARS", "dfars-7052", "mofcom-18", "mofcom-57", "mofcom-61"]
    trail = client.get("/v1/audit", params={"limit": 500}).json()["items"]
    assert [(e["action"], e["subject"]) for e in trail][-1:] == [("rule.created", "ACME-DFARS")]


def test_list_pages_by_id(client: TestClient) -> None:
    for rule_id in ("a-1", "z-1"):
        post_ok(client, "/v1/rules", custom(rule_id))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/rules", params=params).json()
        seen += [rule["id"] for rule in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["a-1", "dfars-7052", "mofcom-18", "mofcom-57", "mofcom-61", "z-1"]


@pytest.mark.parametrize("name", RULE_FILES)
def test_vector_rule_steps(client: TestClient, name: str) -> None:
    """Each `rule` and `get_rule` step of the file, in order: its status, the field a 422 names, nothing kept."""
    for index, step in enumerate(rule_steps(name)):
        expect = step["expect"]
        if "get_rule" in step:
            response = client.get(f"/v1/rules/{step['get_rule']}")
            assert response.status_code == expect["status"], (index, response.text)
            if expect["status"] == 200:
                got = response.json()
                assert got["builtin"] == expect["builtin"]
                keys = ("version", "effective_from", "effective_to", "in_force", "exemptions")
                assert [{k: v[k] for k in keys} for v in got["versions"]] == expect["versions"]
            continue
        before = recorded(client)
        response = client.post("/v1/rules", json=step["rule"])
        assert response.status_code == expect["status"], (step["rule"]["id"], response.text)
        if expect["status"] == 201:
            assert response.json()["id"] == step["rule"]["id"]
            continue
        assert response.headers["content-type"] == "application/problem+json"
        if expect["status"] == 422:
            field = expect["why"].removeprefix("field ")
            assert [e["field"] for e in response.json()["errors"]] == [field], (step["rule"]["id"], response.text)
        assert recorded(client) == before, step["rule"]["id"]


REFUSED = [
    ("null exemptions", {"exemptions": None}, "versions.0.exemptions"),
    ("recycled past mining", {"exemptions": [{"refining": "recycled"}]}, "versions.0.exemptions.0"),
    ("unknown stage in a pattern", {"exemptions": [{"smelting": "CN"}]}, "versions.0.exemptions.0"),
    ("repeated pattern", {"exemptions": [{"mining": "AU"}, {"mining": "AU"}]}, "versions.0.exemptions"),
    ("lower-case country", {"countries": ["cn"]}, "versions.0.countries"),
    ("not a list", {"countries": "CN"}, "versions.0.countries"),
    ("unknown stage", {"stages": ["smelting"]}, "versions.0.stages"),
    ("unknown material", {"subject_materials": ["rock"]}, "versions.0.subject_materials"),
    ("negative threshold", {"threshold_percent": "-1"}, "versions.0.threshold_percent"),
    ("threshold as a boolean", {"threshold_percent": True}, "versions.0.threshold_percent"),
    ("in_force as a string", {"in_force": "true"}, "versions.0.in_force"),
    ("a date with a time", {"effective_from": "2026-01-01T00:00:00Z"}, "versions.0.effective_from"),
    ("not a date", {"effective_from": "2026-02-30"}, "versions.0.effective_from"),
    ("a bad label", {"version": "v 1"}, "versions.0.version"),
    ("value without elements", {"basis": "value"}, "versions.0.basis"),
    ("unknown field", {"colour": "red"}, "versions.0.colour"),
]


@pytest.mark.parametrize(("case", "version", "field"), REFUSED, ids=[case[0] for case in REFUSED])
def test_more_refusals_name_their_field(client: TestClient, case: str, version: dict[str, Any], field: str) -> None:
    before = recorded(client)
    response = client.post("/v1/rules", json=custom("REFUSED", **version))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert recorded(client) == before


def test_a_value_rule_with_elements_and_an_open_version_after_a_closed_one(client: TestClient) -> None:
    body = custom("VALUE", basis="value", elements=["Dy", "Tb"], effective_to="2027-01-01", threshold_percent="25")
    later = copy.deepcopy(body["versions"][0]) | {"version": "v2", "effective_from": "2027-01-01", "effective_to": None}
    body["versions"].append(later)
    created = post_ok(client, "/v1/rules", body)
    assert [v["threshold_percent"] for v in created["versions"]] == ["25", "25"]
    assert created["versions"][0]["exemptions"] == []


def test_an_id_in_use_is_409_built_in_or_custom(client: TestClient) -> None:
    post_ok(client, "/v1/rules", custom("TWICE"))
    for rule_id in ("TWICE", "dfars-7052"):
        before = recorded(client)
        response = client.post("/v1/rules", json=custom(rule_id))
        assert response.status_code == 409, response.text
        assert recorded(client) == before


@pytest.mark.parametrize("role", ["recorder", "auditor", "viewer"])
def test_only_admins_add_rules_and_everyone_reads_them(client: TestClient, role: str) -> None:
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "AU"})
    key = post_ok(client, "/v1/api-keys", {"organization": "ORG", "role": role, "name": "k"})["key"]
    headers = {"Authorization": f"Bearer {key}"}
    before = recorded(client)
    response = client.post("/v1/rules", json=custom("NOT-MINE"), headers=headers)
    assert response.status_code == 403
    assert recorded(client) == before
    assert client.get("/v1/rules", headers=headers).status_code == 200
    assert client.get("/v1/rules/mofcom-18", headers=headers).status_code == 200
