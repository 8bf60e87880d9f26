"""Who may write into whose books (issue 12): a SKU's makers and an organization's suppliers.

The security review's findings, each reproduced: a recorder of ALPHA flipping BRAVO's SKU answer by
a receipt or by manufacturing naming BRAVO's SKU, and pushing material into BRAVO's facility. Both
are refused now unless BRAVO's manager has listed ALPHA; the operator's admin key bypasses the lists.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import event, lot_input, post_ok


@dataclass(frozen=True)
class Two:
    client: TestClient
    keys: dict[str, dict[str, str]]  # organization -> role -> Authorization header value

    def as_(self, organization: str, role: str) -> dict[str, str]:
        return {"Authorization": self.keys[organization][role]}


@pytest.fixture
def two(client: TestClient) -> Two:
    """ALPHA and BRAVO, each with a mine, a plant and a SKU, and a manager, recorder and viewer key each."""
    keys: dict[str, dict[str, str]] = {}
    for org in ("ALPHA", "BRAVO"):
        post_ok(client, "/v1/organizations", {"code": org, "name": org, "country": "AU"})
        for suffix, stage in (("MINE", "mining"), ("PLANT", "manufacturing")):
            post_ok(client, "/v1/facilities", {"code": f"{org}-{suffix}", "name": suffix, "organization": org,
                                               "country": "AU", "stages": [stage]})  # fmt: skip
        post_ok(client, "/v1/skus", {"sku": f"{org}-MOTOR", "name": "Motor", "organization": org})
        keys[org] = {
            role: "Bearer " + post_ok(client, "/v1/api-keys", {"organization": org, "role": role, "name": role})["key"]
            for role in ("manager", "recorder", "viewer")
        }
    return Two(client, keys)


def receipt(facility: str, code: str, sku: str, country: str = "CN") -> dict[str, Any]:
    output = {"code": code, "material": "product", "quantity": "999999999999999", "unit": "pcs",
              "composition": {"Nd": "1"}, "sku": sku,
              "declared_origin": [{"route": {"mining": country, "refining": country}, "percent": "100"}]}  # fmt: skip
    return event("receipt", facility, outputs=[output])


def answer(two: Two, sku: str) -> tuple[str, int]:
    body = two.client.get(f"/v1/skus/{sku}/origin").json()
    return body["answer"], body["lots_count"]


def test_another_organizations_sku_is_named_only_by_its_makers(two: Two) -> None:
    client = two.client
    assert answer(two, "BRAVO-MOTOR") == ("unknown", 0)
    attack = client.post("/v1/events", json=receipt("ALPHA-PLANT", "FAKE-1", "BRAVO-MOTOR"),
                         headers=two.as_("ALPHA", "recorder"))  # fmt: skip
    assert attack.status_code == 403, attack.text
    assert attack.headers["content-type"] == "application/problem+json"
    assert answer(two, "BRAVO-MOTOR") == ("unknown", 0)
    # Manufacturing at ALPHA's own plant naming BRAVO's SKU: refused alike.
    ore = post_ok(client, "/v1/events", event("extraction", "ALPHA-MINE", outputs=[
        {"code": "ORE", "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}]))  # fmt: skip
    moved = post_ok(client, "/v1/events", event("transfer", "ALPHA-MINE", inputs=[lot_input("ORE", "10", "ALPHA")],
                                                 outputs=[{"code": "ORE-P", "facility": "ALPHA-PLANT"}]))  # fmt: skip
    assert ore["outputs"]
    assert moved["outputs"]
    product = {"code": "P-1", "material": "product", "quantity": "1", "unit": "pcs", "sku": "BRAVO-MOTOR"}
    made = event("processing", "ALPHA-PLANT", stage="manufacturing", inputs=[lot_input("ORE-P", "10", "ALPHA")],
                 outputs=[product])  # fmt: skip
    assert client.post("/v1/events", json=made, headers=two.as_("ALPHA", "recorder")).status_code == 403

    # Only BRAVO's manager (or an admin) lists makers of BRAVO's SKU.
    for who in (two.as_("ALPHA", "manager"), two.as_("BRAVO", "recorder"), two.as_("BRAVO", "viewer")):
        refused = client.post("/v1/skus/BRAVO-MOTOR/makers", json={"organization": "ALPHA"}, headers=who)
        assert refused.status_code == 403
    added = client.post("/v1/skus/BRAVO-MOTOR/makers", json={"organization": "ALPHA"},
                        headers=two.as_("BRAVO", "manager"))  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json()["organization"] == "ALPHA"
    again = client.post(
        "/v1/skus/BRAVO-MOTOR/makers", json={"organization": "ALPHA"}, headers=two.as_("BRAVO", "manager")
    )
    assert again.status_code == 409
    listed = client.get("/v1/skus/BRAVO-MOTOR/makers", headers=two.as_("BRAVO", "viewer")).json()
    assert [m["organization"] for m in listed] == ["ALPHA"]
    assert client.get("/v1/skus/BRAVO-MOTOR/makers", headers=two.as_("ALPHA", "viewer")).status_code == 403

    assert client.post("/v1/events", json=made, headers=two.as_("ALPHA", "recorder")).status_code == 201
    assert answer(two, "BRAVO-MOTOR")[1] == 1
    removed = client.delete("/v1/skus/BRAVO-MOTOR/makers/ALPHA", headers=two.as_("BRAVO", "manager"))
    assert removed.status_code == 204
    assert client.delete("/v1/skus/BRAVO-MOTOR/makers/ALPHA", headers=two.as_("BRAVO", "manager")).status_code == 404
    late = client.post("/v1/events", json=receipt("ALPHA-PLANT", "FAKE-2", "BRAVO-MOTOR"),
                       headers=two.as_("ALPHA", "recorder"))  # fmt: skip
    assert late.status_code == 403
    # The owner names its own SKU without a list; the operator's admin key bypasses it.
    own = client.post("/v1/events", json=receipt("BRAVO-PLANT", "R-1", "BRAVO-MOTOR", "AU"),
                      headers=two.as_("BRAVO", "recorder"))  # fmt: skip
    assert own.status_code == 201
    assert client.post("/v1/events", json=receipt("ALPHA-PLANT", "ADMIN-1", "BRAVO-MOTOR")).status_code == 201
    actions = [e["action"] for e in client.get("/v1/audit", params={"limit": 500}).json()["items"]]
    assert {"sku.maker_added", "sku.maker_removed"} <= set(actions)


def test_a_transfer_into_another_organization_needs_it_to_list_the_sender(two: Two) -> None:
    client = two.client
    ore = {"code": "ORE", "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}
    post_ok(client, "/v1/events", event("extraction", "ALPHA-MINE", outputs=[ore]))
    push = event("transfer", "ALPHA-MINE", inputs=[lot_input("ORE", "4", "ALPHA")],
                 outputs=[{"code": "PUSHED", "facility": "BRAVO-PLANT"}])  # fmt: skip
    refused = client.post("/v1/events", json=push, headers=two.as_("ALPHA", "recorder"))
    assert refused.status_code == 403, refused.text
    assert client.get("/v1/lots", params={"code": "PUSHED"}).json()["items"] == []
    assert client.get("/v1/lots", params={"code": "ORE"}).json()["items"][0]["remaining"] == "10"

    for who in (two.as_("ALPHA", "manager"), two.as_("BRAVO", "recorder")):
        assert client.post("/v1/organizations/BRAVO/suppliers", json={"organization": "ALPHA"},
                           headers=who).status_code == 403  # fmt: skip
    added = client.post("/v1/organizations/BRAVO/suppliers", json={"organization": "ALPHA"},
                        headers=two.as_("BRAVO", "manager"))  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json() | {"created_at": None} == {"organization": "BRAVO", "supplier": "ALPHA", "created_at": None}
    listed = client.get("/v1/organizations/BRAVO/suppliers", headers=two.as_("BRAVO", "recorder")).json()
    assert [s["supplier"] for s in listed] == ["ALPHA"]
    assert client.get("/v1/organizations/BRAVO/suppliers", headers=two.as_("ALPHA", "manager")).status_code == 403

    delivered = client.post("/v1/events", json=push, headers=two.as_("ALPHA", "recorder"))
    assert delivered.status_code == 201, delivered.text
    # The receiver refuses the delivery while it is unconsumed: the sender gets its quantity back.
    assert (
        client.post(f"/v1/events/{delivered.json()['id']}/void", headers=two.as_("BRAVO", "viewer")).status_code == 403
    )
    voided = client.post(f"/v1/events/{delivered.json()['id']}/void", headers=two.as_("BRAVO", "recorder"))
    assert voided.status_code == 200, voided.text
    assert client.get("/v1/lots", params={"code": "ORE"}).json()["items"][0]["remaining"] == "10"

    assert (
        client.delete("/v1/organizations/BRAVO/suppliers/ALPHA", headers=two.as_("BRAVO", "manager")).status_code == 204
    )
    again = json_with_code(push, "PUSHED-2")
    assert client.post("/v1/events", json=again, headers=two.as_("ALPHA", "recorder")).status_code == 403
    # A batch holding one refused transfer records nothing.
    batch = {"events": [event("extraction", "ALPHA-MINE", outputs=[ore | {"code": "ORE-2"}]), again]}
    assert client.post("/v1/events/batch", json=batch, headers=two.as_("ALPHA", "recorder")).status_code == 403
    assert client.get("/v1/lots", params={"code": "ORE-2"}).json()["items"] == []
    # The operator's admin key bypasses the list.
    assert client.post("/v1/events", json=again).status_code == 201


def json_with_code(body: dict[str, Any], code: str) -> dict[str, Any]:
    return body | {"outputs": [body["outputs"][0] | {"code": code}]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/skus/NOPE/makers", {"organization": "ALPHA"}, 404),
        ("POST", "/v1/skus/BRAVO-MOTOR/makers", {"organization": "NOPE"}, 422),
        ("POST", "/v1/skus/BRAVO-MOTOR/makers", {"organization": "BRAVO"}, 409),
        ("POST", "/v1/skus/BRAVO-MOTOR/makers", {}, 422),
        ("POST", "/v1/organizations/NOPE/suppliers", {"organization": "ALPHA"}, 404),
        ("POST", "/v1/organizations/BRAVO/suppliers", {"organization": "BRAVO"}, 409),
        ("DELETE", "/v1/organizations/BRAVO/suppliers/NOPE", None, 404),
        ("GET", "/v1/skus/NOPE/makers", None, 404),
    ],
)
def test_bad_partner_requests_are_clear_and_change_nothing(
    two: Two, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    before = len(two.client.get("/v1/audit", params={"limit": 500}).json()["items"])
    response = two.client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert len(two.client.get("/v1/audit", params={"limit": 500}).json()["items"]) == before


def test_a_refused_write_says_nothing_of_another_organizations_lots(two: Two) -> None:
    """Authorization before references: 403 at another's facility whatever it names; another's lot is 'no lot'."""
    client = two.client
    ore = {"code": "B-ORE", "material": "ore", "quantity": "10", "unit": "kg", "composition": {"Nd": "1"}}
    post_ok(client, "/v1/events", event("extraction", "BRAVO-MINE", outputs=[ore]))
    alpha = two.as_("ALPHA", "recorder")
    for code in ("B-ORE", "NO-SUCH-LOT"):
        at_bravo = event("transfer", "BRAVO-MINE", inputs=[lot_input(code, "1", "BRAVO")],
                         outputs=[{"code": "X", "facility": "ALPHA-PLANT"}])  # fmt: skip
        refused = client.post("/v1/events", json=at_bravo, headers=alpha)
        assert refused.status_code == 403, refused.text
        assert code not in refused.text
    answers = []
    for code in ("B-ORE", "NO-SUCH-LOT"):
        at_alpha = event("transfer", "ALPHA-MINE", inputs=[lot_input(code, "1", "BRAVO")],
                         outputs=[{"code": "X", "facility": "ALPHA-PLANT"}])  # fmt: skip
        response = client.post("/v1/events", json=at_alpha, headers=alpha)
        assert response.status_code == 422, response.text
        answers.append(response.json()["errors"])
    # The lot that exists and the one that does not are refused alike (only the code named differs).
    assert answers[0] == [{"field": "inputs.0.lot", "message": "no lot B-ORE of BRAVO"}]
    assert answers[1] == [{"field": "inputs.0.lot", "message": "no lot NO-SUCH-LOT of BRAVO"}]
    assert client.get("/v1/lots", params={"code": "B-ORE"}).json()["items"][0]["remaining"] == "10"
