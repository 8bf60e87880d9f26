"""Answers show another organization's lots without id or code (issue 12), on SQLite and PostgreSQL.

MAGNA makes magnets and supplies MOTO, which owns the SKU MOTO-MOTOR; MAGNA also makes some motors
itself (MOTO lists it among the SKU's makers). THIRD only asks. Every key may ask about the SKU, but
a key sees in full only the lots its own organization holds; admins and auditors see every lot.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import event, lot_input, post_ok

SKU = "MOTO-MOTOR"
RULE = "MAGNETS-CN"
ROLES = ("manager", "recorder", "viewer")


@dataclass(frozen=True)
class Chain:
    client: TestClient
    keys: dict[str, dict[str, str]]  # organization -> role -> Authorization header value
    lots: dict[str, tuple[str, str]]  # lot code -> (id, holder)

    def as_(self, organization: str, role: str = "viewer") -> dict[str, str]:
        return {"Authorization": self.keys[organization][role]}

    def get(self, path: str, who: dict[str, str] | None = None, /, **params: str) -> Any:
        response = self.client.get(path, params=params, headers=who or {})
        assert response.status_code == 200, response.text
        return response

    def hidden_from(self, organization: str | None) -> list[tuple[str, str]]:
        """The (id, code) of every lot that ``organization`` (None: the operator) may not see."""
        return [(i, code) for code, (i, holder) in self.lots.items() if organization and holder != organization]


def declared(code: str, material: str, quantity: str, **more: str) -> dict[str, Any]:
    return {"code": code, "material": material, "quantity": quantity, "unit": "kg", "composition": {"Nd": "1"},
            "declared_origin": [{"route": {"mining": "CN", "refining": "CN"}, "percent": "100"}], **more}  # fmt: skip


@pytest.fixture
def chain(client: TestClient) -> Chain:
    keys: dict[str, dict[str, str]] = {}
    for org in ("MAGNA", "MOTO", "THIRD"):
        post_ok(client, "/v1/organizations", {"code": org, "name": org, "country": "DE"})
        post_ok(client, "/v1/facilities", {"code": f"{org}-PLANT", "name": "Plant", "organization": org,
                                           "country": "DE", "stages": ["magnet_making", "manufacturing"]})  # fmt: skip
        keys[org] = {
            role: "Bearer " + post_ok(client, "/v1/api-keys", {"organization": org, "role": role, "name": role})["key"]
            for role in (*ROLES, "auditor")
        }
    post_ok(client, "/v1/skus", {"sku": SKU, "name": "Motor", "organization": "MOTO"})
    moto_manager = {"Authorization": keys["MOTO"]["manager"]}
    for path in ("/v1/organizations/MOTO/suppliers", f"/v1/skus/{SKU}/makers"):
        added = client.post(path, json={"organization": "MAGNA"}, headers=moto_manager)
        assert added.status_code == 201, added.text
    magna = {"Authorization": keys["MAGNA"]["recorder"]}
    moto = {"Authorization": keys["MOTO"]["recorder"]}
    steps = [
        (magna, event("receipt", "MAGNA-PLANT", outputs=[declared("MAG-M1", "magnet", "10")])),
        (magna, event("transfer", "MAGNA-PLANT", inputs=[lot_input("MAG-M1", "10", "MAGNA")],
                      outputs=[{"code": "MOTO-M1", "facility": "MOTO-PLANT"}])),
        (moto, event("processing", "MOTO-PLANT", stage="manufacturing", inputs=[lot_input("MOTO-M1", "10", "MOTO")],
                     outputs=[{"code": "MOTO-P1", "material": "product", "quantity": "5", "unit": "pcs",
                               "sku": SKU}])),
        # MAGNA's own motors, bought in whole: no magnet is recorded upstream of them (a reason names the lot).
        (magna, event("receipt", "MAGNA-PLANT", outputs=[declared("MAG-P1", "product", "2", sku=SKU)])),
    ]  # fmt: skip
    for who, step in steps:
        response = client.post("/v1/events", json=step, headers=who)
        assert response.status_code == 201, response.text
    version = {"version": "v1", "effective_from": "2026-01-01", "effective_to": None, "in_force": True,
               "countries": ["CN"], "stages": ["refining"], "elements": None, "basis": "mass",
               "threshold_percent": "0", "threshold_inclusive": False, "subject_materials": ["magnet"]}  # fmt: skip
    post_ok(client, "/v1/rules", {"id": RULE, "title": "Magnets refined in China", "versions": [version]})
    lots = {
        item["code"]: (item["id"], item["organization"])
        for item in client.get("/v1/lots", params={"limit": 100}).json()["items"]
    }
    assert set(lots) == {"MAG-M1", "MOTO-M1", "MOTO-P1", "MAG-P1"}
    return Chain(client, keys, lots)


def assert_names_none(body: str, hidden: list[tuple[str, str]]) -> None:
    for lot_id, code in hidden:
        assert lot_id not in body
        assert code not in body


def test_the_sku_answer_lists_anothers_lots_by_organization_and_answer_only(chain: Chain) -> None:
    admin = chain.get(f"/v1/skus/{SKU}/origin").json()
    assert {(lot["code"], lot["organization"]) for lot in admin["lots"]} == {("MOTO-P1", "MOTO"), ("MAG-P1", "MAGNA")}
    for org in ("MOTO", "MAGNA", "THIRD"):
        for role in ROLES:
            response = chain.get(f"/v1/skus/{SKU}/origin", chain.as_(org, role))
            body = response.json()
            assert {k: v for k, v in body.items() if k not in ("lots", "as_of")} == {
                k: v for k, v in admin.items() if k not in ("lots", "as_of")
            }
            for seen, whole in zip(body["lots"], admin["lots"], strict=True):
                if whole["organization"] == org:
                    assert seen == whole
                else:
                    assert seen == whole | {"id": None, "code": None}
            assert_names_none(response.text, chain.hidden_from(org))
    for who in (chain.as_("MOTO", "auditor"), {}):
        assert chain.get(f"/v1/skus/{SKU}/origin", who).json()["lots"] == admin["lots"]


def test_the_remembered_answer_stays_whole_whoever_asked_first(chain: Chain) -> None:
    asked = {"countries": "CN", "lots_limit": "10"}
    viewer = chain.get(f"/v1/skus/{SKU}/origin", chain.as_("THIRD"), **asked).json()
    assert [lot["id"] for lot in viewer["lots"]] == [None, None]
    admin = chain.get(f"/v1/skus/{SKU}/origin", **asked).json()
    assert {lot["code"] for lot in admin["lots"]} == {"MOTO-P1", "MAG-P1"}
    again = chain.get(f"/v1/skus/{SKU}/origin", chain.as_("THIRD"), **asked).json()
    assert [lot["id"] for lot in again["lots"]] == [None, None]
    # And the other way round, for the rules' answer.
    whole = chain.get(f"/v1/skus/{SKU}/compliance", rules=RULE, on="2027-01-01").json()
    seen = chain.get(f"/v1/skus/{SKU}/compliance", chain.as_("THIRD"), rules=RULE, on="2027-01-01").json()
    assert all(lot["id"] is None for lot in seen["results"][0]["lots"])
    assert chain.get(f"/v1/skus/{SKU}/compliance", rules=RULE, on="2027-01-01").json()["results"] == whole["results"]
    assert all(lot["id"] is not None for lot in whole["results"][0]["lots"])


def test_answers_about_one_lot_follow_the_lots_visibility(chain: Chain) -> None:
    missing = "0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77"
    moto_lot, _ = chain.lots["MOTO-P1"]
    for path in ("origin", "compliance"):
        for lot_id in (moto_lot, missing):
            for org in ("MAGNA", "THIRD"):
                for role in ROLES:
                    response = chain.client.get(f"/v1/lots/{lot_id}/{path}", headers=chain.as_(org, role))
                    assert response.status_code == 404, response.text
                    assert response.json()["detail"] == f"No lot has the id {lot_id!r}."
        for who in (chain.as_("MOTO"), chain.as_("MOTO", "recorder"), chain.as_("THIRD", "auditor"), None):
            assert chain.get(f"/v1/lots/{moto_lot}/{path}", who).json()["subject"]["id"] == moto_lot


def test_rules_answers_hide_anothers_judged_lots_and_reasons(chain: Chain) -> None:
    whole = chain.get(f"/v1/skus/{SKU}/compliance", rules=RULE, on="2027-01-01").json()["results"][0]
    assert [(lot["code"], lot["organization"]) for lot in whole["lots"]] == [("MOTO-M1", "MOTO")]
    [reason] = whole["reasons"]
    assert (reason["code"], reason["lot"]) == ("no_subject_lots", chain.lots["MAG-P1"][0])
    assert reason["detail"] == "no magnet lot upstream of lot MAG-P1 of MAGNA"

    moto = chain.get(f"/v1/skus/{SKU}/compliance", chain.as_("MOTO"), rules=RULE, on="2027-01-01")
    seen = moto.json()["results"][0]
    assert seen["lots"] == whole["lots"]
    assert seen["reasons"] == [{"code": "no_subject_lots", "lot": None, "element": None,
                                "detail": "no magnet lot upstream of a lot of MAGNA"}]  # fmt: skip
    assert_names_none(moto.text, chain.hidden_from("MOTO"))

    magna = chain.get(f"/v1/skus/{SKU}/compliance", chain.as_("MAGNA"), rules=RULE, on="2027-01-01")
    seen = magna.json()["results"][0]
    assert seen["lots"] == [whole["lots"][0] | {"id": None, "code": None}]
    assert seen["reasons"] == whole["reasons"]
    assert_names_none(magna.text, chain.hidden_from("MAGNA"))
    assert (seen["answer"], seen["share_percent"]) == (whole["answer"], whole["share_percent"])

    # MOTO's own lot, judged by the magnet MAGNA delivered: MOTO's lot after the transfer, in full.
    moto_lot = chain.lots["MOTO-P1"][0]
    own = chain.get(f"/v1/lots/{moto_lot}/compliance", chain.as_("MOTO"), rules=RULE, on="2027-01-01").json()
    assert [lot["code"] for lot in own["results"][0]["lots"]] == ["MOTO-M1"]
    third = chain.get(f"/v1/skus/{SKU}/compliance", chain.as_("THIRD"), rules=RULE, on="2027-01-01")
    assert_names_none(third.text, chain.hidden_from("THIRD"))
    for who in (chain.as_("THIRD", "auditor"), {}):
        answer = chain.get(f"/v1/skus/{SKU}/compliance", who, rules=RULE, on="2027-01-01").json()
        assert answer["results"][0] == whole


@pytest.mark.parametrize("accept", ["application/json", "text/csv", "text/html"])
def test_the_disclosure_names_no_hidden_lot(chain: Chain, accept: str) -> None:
    whole = chain.get(f"/v1/skus/{SKU}/disclosure").json()
    for org in ("MOTO", "MAGNA", "THIRD"):
        response = chain.client.get(f"/v1/skus/{SKU}/disclosure", headers=chain.as_(org) | {"Accept": accept})
        assert response.status_code == 200, response.text
        assert_names_none(response.text, chain.hidden_from(org))
        for code, (lot_id, holder) in chain.lots.items():
            if holder == org and code in ("MOTO-P1", "MAG-P1"):
                assert lot_id in response.text
                assert code in response.text
        if accept == "application/json":
            seen = response.json()
            assert seen["stages"] == whole["stages"]
            assert [(lot["organization"], lot["total_kg"], lot["stages"]) for lot in seen["lots"]] == [
                (lot["organization"], lot["total_kg"], lot["stages"]) for lot in whole["lots"]
            ]
            assert [lot["id"] is None for lot in seen["lots"]] == [lot["organization"] != org for lot in whole["lots"]]
        elif accept == "text/csv":
            rows = [line.split(",") for line in response.text.splitlines()[1:]]
            others = [row for row in rows if row[0] == "lot" and row[3] != org]
            assert others
            assert all(row[1] == row[2] == "" for row in others)
        else:
            assert "A lot of " in response.text
    for who in (chain.as_("MAGNA", "auditor"), {}):
        response = chain.client.get(f"/v1/skus/{SKU}/disclosure", headers=who | {"Accept": accept})
        for code in ("MOTO-P1", "MAG-P1"):
            lot_id, _ = chain.lots[code]
            assert lot_id in response.text
            assert code in response.text


def test_the_report_names_no_hidden_lot(chain: Chain) -> None:
    for org in ("MOTO", "MAGNA", "THIRD"):
        response = chain.get(f"/v1/skus/{SKU}/report", chain.as_(org), on="2027-01-01")
        assert_names_none(response.text, chain.hidden_from(org))
        assert "MAGNA" in response.text
    whole = chain.get(f"/v1/skus/{SKU}/report", chain.as_("THIRD", "auditor"), on="2027-01-01").text
    for code in ("MOTO-P1", "MAG-P1"):
        assert code in whole


def test_an_attestation_signs_what_its_issuer_reads_and_is_read_by_its_organization(chain: Chain) -> None:
    client = chain.client
    issued: dict[str, str] = {}
    asked: dict[str, dict[str, Any]] = {
        "origin": {"question": {}},
        "compliance": {"rules": [RULE], "on": "2027-01-01"},
        "disclosure": {},
    }
    for of, question in asked.items():
        body = {"subject": {"kind": "sku", "sku": SKU}, "of": of} | question
        response = client.post("/v1/attestations", json=body, headers=chain.as_("MOTO", "recorder"))
        assert response.status_code == 201, response.text
        issued[of] = response.json()["id"]
        read = chain.get(f"/v1/attestations/{issued[of]}", chain.as_("MOTO", "viewer"))
        assert_names_none(read.text, chain.hidden_from("MOTO"))
        assert chain.lots["MOTO-P1"][0] in read.text or of == "compliance"
    attested = client.get(f"/v1/skus/{SKU}/disclosure", params={"attest": "true"}, headers=chain.as_("MOTO", "manager"))
    assert attested.status_code == 200, attested.text
    assert_names_none(attested.text, chain.hidden_from("MOTO"))
    issued["attested"] = attested.json()["attestation"]
    operator = post_ok(client, "/v1/attestations", {"subject": {"kind": "sku", "sku": SKU}, "of": "disclosure"})
    whole = chain.get(f"/v1/attestations/{operator['id']}").text
    assert chain.lots["MAG-P1"][0] in whole
    # MAGNA's lot attested by its own recorder; MOTO cannot attest (or learn of) it.
    magna_lot = chain.lots["MAG-P1"][0]
    own = client.post("/v1/attestations", json={"subject": {"kind": "lot", "id": magna_lot}, "question": {}},
                      headers=chain.as_("MAGNA", "recorder"))  # fmt: skip
    assert own.status_code == 201, own.text
    refused = client.post("/v1/attestations", json={"subject": {"kind": "lot", "id": magna_lot}, "question": {}},
                          headers=chain.as_("MOTO", "recorder"))  # fmt: skip
    assert refused.status_code == 422, refused.text

    def listed(who: dict[str, str] | None, **params: str) -> set[str]:
        return {item["id"] for item in chain.get("/v1/attestations", who, limit="100", **params).json()["items"]}

    moto_ids = set(issued.values())
    every = moto_ids | {operator["id"], own.json()["id"]}
    for role in ROLES:
        assert listed(chain.as_("MOTO", role)) == moto_ids
        assert listed(chain.as_("MOTO", role), sku=SKU) == moto_ids
        assert listed(chain.as_("MAGNA", role)) == {own.json()["id"]}
        assert listed(chain.as_("THIRD", role)) == set()
        for hidden in every - moto_ids:
            response = client.get(f"/v1/attestations/{hidden}", headers=chain.as_("MOTO", role))
            assert response.status_code == 404, response.text
            assert response.json()["detail"] == f"No attestation has the id {hidden!r}."
    assert listed(chain.as_("THIRD", "auditor")) == every
    assert listed(None) == every
