"""Who may read what (issue 12): each organization sees its own lots, events and traces; admins and auditors all.

The role matrix (test_access.py) asks every route as each role of one organization about its own
material; here two organizations with the same role ask about each other's: what each lists and
filters, what a direct read answers (404 exactly like a lot that does not exist), how an event shows
the other side of a transfer, and where a trace stops. A hypothesis test then scans every GET of
lots, events and traces over random chains across three organizations for ids and codes a key
may not see.
"""

import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import event, lot_input, post_ok

ORG_ROLES = ("manager", "recorder", "viewer")


def token(prefix: str) -> str:
    """A code no other string of a response contains by chance."""
    return f"{prefix}{secrets.token_hex(6).upper()}"


@dataclass
class Orgs:
    client: TestClient
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # organization -> role -> header value

    def as_(self, organization: str, role: str) -> dict[str, str]:
        return {"Authorization": self.keys[organization][role]}

    def add(self, code: str) -> None:
        client = self.client
        post_ok(client, "/v1/organizations", {"code": code, "name": code, "country": "AU"})
        site = {"code": f"{code}-SITE", "name": "Site", "organization": code, "country": "AU",
                "stages": ["mining", "manufacturing"]}  # fmt: skip
        post_ok(client, "/v1/facilities", site)
        post_ok(client, "/v1/skus", {"sku": f"{code}-MOTOR", "name": "Motor", "organization": code})
        self.keys[code] = {
            role: "Bearer " + post_ok(client, "/v1/api-keys", {"organization": code, "role": role, "name": role})["key"]
            for role in (*ORG_ROLES, "auditor")
        }

    def get(self, path: str, who: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=who or {})
        assert response.status_code == 200, response.text
        return response.json()


def ore(code: str, quantity: str = "10") -> dict[str, Any]:
    return {"code": code, "material": "ore", "quantity": quantity, "unit": "kg", "composition": {"Nd": "1"}}


@dataclass
class Delivery:
    """ALPHA's ore, part of it shipped to BRAVO (which lists ALPHA as a supplier), and BRAVO's own ore."""

    orgs: Orgs
    alpha_ore: dict[str, Any]
    alpha_extraction: str
    transfer: str
    bravo_received: dict[str, Any]
    bravo_ore: dict[str, Any]
    bravo_extraction: str


@pytest.fixture
def delivery(client: TestClient) -> Delivery:
    orgs = Orgs(client)
    for code in ("ALPHA", "BRAVO"):
        orgs.add(code)
    post_ok(client, "/v1/organizations/BRAVO/suppliers", {"organization": "ALPHA"})
    alpha = client.post("/v1/events", json=event("extraction", "ALPHA-SITE", outputs=[ore("A-ORE")]),
                        headers=orgs.as_("ALPHA", "recorder")).json()  # fmt: skip
    shipped = client.post("/v1/events", headers=orgs.as_("ALPHA", "recorder"), json=event(
        "transfer", "ALPHA-SITE", inputs=[lot_input("A-ORE", "4", "ALPHA")],
        outputs=[{"code": "B-IN", "facility": "BRAVO-SITE"}]))  # fmt: skip
    assert shipped.status_code == 201, shipped.text
    bravo = client.post("/v1/events", json=event("extraction", "BRAVO-SITE", outputs=[ore("B-ORE")]),
                        headers=orgs.as_("BRAVO", "recorder")).json()  # fmt: skip
    received = orgs.get("/v1/lots", code="B-IN")["items"][0]
    return Delivery(orgs, alpha["outputs"][0], alpha["id"], shipped.json()["id"], received, bravo["outputs"][0],
                    bravo["id"])  # fmt: skip


@pytest.mark.parametrize("role", ["manager", "recorder"])
def test_each_organization_lists_and_filters_only_its_own_lots(delivery: Delivery, role: str) -> None:
    orgs = delivery.orgs
    alpha, bravo = orgs.as_("ALPHA", role), orgs.as_("BRAVO", role)
    assert [lot["code"] for lot in orgs.get("/v1/lots", alpha)["items"]] == ["A-ORE"]
    assert [lot["code"] for lot in orgs.get("/v1/lots", bravo)["items"]] == ["B-IN", "B-ORE"]
    for who, other, codes in ((alpha, "BRAVO", ("B-IN", "B-ORE")), (bravo, "ALPHA", ("A-ORE",))):
        assert orgs.get("/v1/lots", who, organization=other) == {"items": [], "next_cursor": None}
        assert orgs.get("/v1/lots", who, facility=f"{other}-SITE")["items"] == []
        for code in codes:
            assert orgs.get("/v1/lots", who, code=code)["items"] == []
            assert orgs.get("/v1/lots", who, code=code.lower())["items"] == []
    # Pages are cut after filtering: ALPHA's one lot is its last page, BRAVO's two take two pages of one.
    assert orgs.get("/v1/lots", alpha, material="ore", limit=1)["next_cursor"] is None
    first = orgs.get("/v1/lots", bravo, limit=1)
    assert [lot["code"] for lot in first["items"]] == ["B-IN"]
    second = orgs.get("/v1/lots", bravo, limit=1, cursor=first["next_cursor"])
    assert [lot["code"] for lot in second["items"]] == ["B-ORE"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("role", ["manager", "recorder"])
def test_another_organizations_lot_and_event_are_404_like_ones_that_do_not_exist(delivery: Delivery, role: str) -> None:
    client, orgs = delivery.orgs.client, delivery.orgs
    missing = "00000000-0000-4000-8000-000000000000"
    cases = [
        (orgs.as_("ALPHA", role), "/v1/lots/{}", delivery.bravo_ore["id"]),
        (orgs.as_("ALPHA", role), "/v1/lots/{}", delivery.bravo_received["id"]),
        (orgs.as_("ALPHA", role), "/v1/lots/{}/trace", delivery.bravo_received["id"]),
        (orgs.as_("ALPHA", role), "/v1/events/{}", delivery.bravo_extraction),
        (orgs.as_("BRAVO", role), "/v1/lots/{}", delivery.alpha_ore["id"]),
        (orgs.as_("BRAVO", role), "/v1/lots/{}/trace", delivery.alpha_ore["id"]),
        (orgs.as_("BRAVO", role), "/v1/events/{}", delivery.alpha_extraction),
    ]
    for who, path, hidden in cases:
        response = client.get(path.format(hidden), headers=who)
        absent = client.get(path.format(missing), headers=who)
        assert response.status_code == absent.status_code == 404, (path, response.text)
        assert response.json()["detail"] == absent.json()["detail"].replace(missing, hidden)
    # Each still reads its own, and the operator and the auditors read everything.
    assert client.get(f"/v1/lots/{delivery.alpha_ore['id']}", headers=orgs.as_("ALPHA", role)).status_code == 200
    assert client.get(f"/v1/events/{delivery.bravo_extraction}", headers=orgs.as_("BRAVO", role)).status_code == 200
    for who in ({}, orgs.as_("ALPHA", "auditor"), orgs.as_("BRAVO", "auditor")):
        assert len(orgs.get("/v1/lots", who)["items"]) == 3
        assert (
            orgs.get("/v1/lots", who, organization="BRAVO", code="b-in")["items"][0]["id"]
            == (delivery.bravo_received["id"])
        )
        for lot in (delivery.alpha_ore, delivery.bravo_ore, delivery.bravo_received):
            assert client.get(f"/v1/lots/{lot['id']}", headers=who).status_code == 200
        for event_id in (delivery.alpha_extraction, delivery.transfer, delivery.bravo_extraction):
            assert client.get(f"/v1/events/{event_id}", headers=who).status_code == 200
    # Viewers read no lots or events at all, their own organization's included.
    assert client.get("/v1/lots", headers=orgs.as_("ALPHA", "viewer")).status_code == 403
    assert client.get(f"/v1/events/{delivery.transfer}", headers=orgs.as_("BRAVO", "viewer")).status_code == 403


@pytest.mark.parametrize("role", ["manager", "recorder"])
def test_a_transfer_shows_each_side_the_others_lots_redacted(delivery: Delivery, role: str) -> None:
    orgs = delivery.orgs
    sent = orgs.get(f"/v1/events/{delivery.transfer}", orgs.as_("ALPHA", role))
    assert [item["code"] for item in sent["inputs"]] == ["A-ORE"]
    assert sent["outputs"] == []
    assert sent["outputs_redacted"] == [{"organization": "BRAVO", "material": "ore", "quantity": "4", "unit": "kg"}]
    assert "inputs_redacted" not in sent
    assert delivery.bravo_received["id"] not in str(sent)
    assert "B-IN" not in str(sent)

    received = orgs.get(f"/v1/events/{delivery.transfer}", orgs.as_("BRAVO", role))
    assert received["inputs"] == []
    assert received["inputs_redacted"] == [{"organization": "ALPHA", "quantity": "4"}]
    assert [lot["id"] for lot in received["outputs"]] == [delivery.bravo_received["id"]]
    assert delivery.alpha_ore["id"] not in str(received)
    assert "A-ORE" not in str(received)
    # The lot BRAVO received names the transfer, which BRAVO reads.
    assert delivery.bravo_received["event"] == delivery.transfer

    full = orgs.get(f"/v1/events/{delivery.transfer}", orgs.as_("BRAVO", "auditor"))
    assert [item["code"] for item in full["inputs"]] == ["A-ORE"]
    assert [lot["code"] for lot in full["outputs"]] == ["B-IN"]
    assert "inputs_redacted" not in full
    assert "outputs_redacted" not in full


def test_recording_and_voiding_answer_as_the_event_is_read(delivery: Delivery) -> None:
    client, orgs = delivery.orgs.client, delivery.orgs
    shipped = client.post("/v1/events", headers=orgs.as_("ALPHA", "recorder"), json=event(
        "transfer", "ALPHA-SITE", inputs=[lot_input("A-ORE", "1", "ALPHA")],
        outputs=[{"code": "B-IN-2", "facility": "BRAVO-SITE"}]))  # fmt: skip
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["outputs"] == []
    assert shipped.json()["outputs_redacted"][0]["organization"] == "BRAVO"
    assert "B-IN-2" not in shipped.text
    # The receiver refuses it: the answer hides the sender's lot.
    refused = client.post(f"/v1/events/{shipped.json()['id']}/void", headers=orgs.as_("BRAVO", "recorder"))
    assert refused.status_code == 200, refused.text
    assert refused.json()["inputs_redacted"] == [{"organization": "ALPHA", "quantity": "1"}]
    assert delivery.alpha_ore["id"] not in refused.text
    # Voiding another organization's event that was not delivered to it stays 403 (require_own).
    assert client.post(f"/v1/events/{delivery.bravo_extraction}/void",
                       headers=orgs.as_("ALPHA", "recorder")).status_code == 403  # fmt: skip


@pytest.mark.parametrize("role", ["manager", "recorder"])
def test_traces_stop_where_they_enter_another_organization(delivery: Delivery, role: str) -> None:
    orgs = delivery.orgs
    up = orgs.get(f"/v1/lots/{delivery.bravo_received['id']}/trace", orgs.as_("BRAVO", role))
    assert [(node["kind"], node["id"]) for node in up["nodes"]] == [
        ("lot", delivery.bravo_received["id"]),
        ("event", delivery.transfer),
        ("organization", "org:ALPHA:1"),
    ]
    supplier = up["nodes"][2]
    assert supplier | {"origin": None} == {
        "kind": "organization", "id": "org:ALPHA:1", "depth": 1, "code": None, "organization": "ALPHA",
        "facility": None, "material": "ore", "quantity": "4", "unit": "kg", "type": None, "stage": None,
        "status": None, "occurred_at": None, "origin": None,
    }  # fmt: skip
    assert supplier["origin"]["total_kg"] == "0.4"
    assert supplier["origin"]["stages"]["mining"] == {"AU": "100"}
    assert {(edge["source"], edge["target"], edge["quantity"]) for edge in up["edges"]} == {
        ("org:ALPHA:1", delivery.transfer, "4"),
        (delivery.transfer, delivery.bravo_received["id"], None),
    }
    assert up["truncated"] is False
    assert delivery.alpha_ore["id"] not in str(up)
    assert delivery.alpha_extraction not in str(up)

    down = orgs.get(f"/v1/lots/{delivery.alpha_ore['id']}/trace", orgs.as_("ALPHA", role), direction="downstream")
    assert [(node["kind"], node["id"]) for node in down["nodes"]] == [
        ("lot", delivery.alpha_ore["id"]),
        ("event", delivery.transfer),
        ("organization", "org:BRAVO:1"),
    ]
    assert down["nodes"][2]["quantity"] == "4"
    assert "origin" not in down["nodes"][2]
    assert {(edge["source"], edge["target"]) for edge in down["edges"]} == {
        (delivery.alpha_ore["id"], delivery.transfer),
        (delivery.transfer, "org:BRAVO:1"),
    }
    assert delivery.bravo_received["id"] not in str(down)

    # The auditor walks through: ALPHA's extraction upstream of BRAVO's lot, in full.
    audited = orgs.get(f"/v1/lots/{delivery.bravo_received['id']}/trace", orgs.as_("ALPHA", "auditor"))
    assert {node["id"] for node in audited["nodes"]} == {
        delivery.bravo_received["id"],
        delivery.transfer,
        delivery.alpha_ore["id"],
        delivery.alpha_extraction,
    }
    assert all(node["kind"] != "organization" for node in audited["nodes"])


# The hypothesis test: random chains across three organizations, every GET scanned.


@dataclass
class Chain:
    """Three organizations' lots and events as the operator recorded them, to know who may see what."""

    orgs: Orgs
    codes: list[str]
    lots: dict[str, dict[str, Any]] = field(default_factory=dict)  # lot id -> {"code", "organization"}
    events: dict[str, set[str]] = field(default_factory=dict)  # event id -> organizations that see it

    def record(self, organization: str, body: dict[str, Any]) -> dict[str, Any] | None:
        response = self.orgs.client.post("/v1/events", json=body, headers=self.orgs.as_(organization, "recorder"))
        if response.status_code != 201:
            return None
        recorded: dict[str, Any] = self.orgs.get(f"/v1/events/{response.json()['id']}")  # the whole event
        for lot in recorded["outputs"]:
            self.lots[lot["id"]] = {"code": lot["code"], "organization": lot["organization"]}
        self.events[recorded["id"]] = {organization} | {lot["organization"] for lot in recorded["outputs"]}
        return recorded

    def active(self, organization: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.orgs.get("/v1/lots", self.orgs.as_(organization, "recorder"), limit=500)[
            "items"
        ]
        return items


STEP = st.tuples(st.sampled_from(["extract", "transfer", "manufacture"]), st.integers(0, 2), st.integers(0, 2))


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(steps=st.lists(STEP, min_size=3, max_size=7), supplies=st.sets(st.tuples(st.integers(0, 2), st.integers(0, 2))))
def test_no_get_names_a_lot_or_event_its_caller_may_not_see(
    client: TestClient, steps: list[tuple[str, int, int]], supplies: set[tuple[int, int]]
) -> None:
    orgs = Orgs(client)
    chain = Chain(orgs, [token("ORG") for _ in range(3)])
    for code in chain.codes:
        orgs.add(code)
    # Each receiver's manager lists its suppliers; a transfer to one that does not list the sender is refused.
    for receiver, supplier in supplies:
        if receiver != supplier:
            added = client.post(f"/v1/organizations/{chain.codes[receiver]}/suppliers",
                                json={"organization": chain.codes[supplier]},
                                headers=orgs.as_(chain.codes[receiver], "manager"))  # fmt: skip
            assert added.status_code == 201, added.text
    for action, who, whom in steps:
        code, other = chain.codes[who], chain.codes[whom]
        mine = [lot for lot in chain.active(code) if lot["remaining"] != "0" and lot["material"] == "ore"]
        if action == "extract" or not mine:
            chain.record(code, event("extraction", f"{code}-SITE", outputs=[ore(token("LOT"))]))
        elif action == "transfer":
            lot = mine[-1]
            chain.record(code, event("transfer", f"{code}-SITE", inputs=[lot_input(lot["code"], "1", code)],
                                     outputs=[{"code": token("LOT"), "facility": f"{other}-SITE"}]))  # fmt: skip
        else:
            lot = mine[0]
            product = {"code": token("LOT"), "material": "product", "quantity": "1", "unit": "pcs",
                       "sku": f"{code}-MOTOR"}  # fmt: skip
            made = chain.record(code, event("processing", f"{code}-SITE", stage="manufacturing",
                                            inputs=[lot_input(lot["code"], "1", code)], outputs=[product]))  # fmt: skip
            assert made is not None
    assert chain.lots

    for code in chain.codes:
        for role in ORG_ROLES:
            caller = orgs.as_(code, role)
            sees = role != "viewer"
            hidden = [lot_id for lot_id, held in chain.lots.items() if not sees or held["organization"] != code]
            hidden += [chain.lots[lot_id]["code"] for lot_id in list(hidden) if lot_id in chain.lots]
            hidden += [event_id for event_id, seen_by in chain.events.items() if not sees or code not in seen_by]
            paths: list[tuple[str, dict[str, str]]] = [("/v1/lots", {"limit": "500"})]
            for other in chain.codes:
                paths += [("/v1/lots", {"organization": other}), ("/v1/lots", {"sku": f"{other}-MOTOR"})]
            for lot_id, lot in chain.lots.items():
                paths += [("/v1/lots", {"code": lot["code"]}), (f"/v1/lots/{lot_id}", {"elements": "true"})]
                paths += [(f"/v1/lots/{lot_id}/trace", {"direction": way}) for way in ("upstream", "downstream")]
            paths += [(f"/v1/events/{event_id}", {}) for event_id in chain.events]
            for path, params in paths:
                response = client.get(path, params=params, headers=caller)
                if response.status_code != 200:
                    # A problem names only what was asked for: the id in the path, refused alike whether it exists.
                    assert response.status_code == (404 if sees else 403), (path, response.text)
                    continue
                named = [secret for secret in hidden if secret in response.text]
                assert not named, (code, role, path, named, response.text)
            # Answers: every key asks about any SKU, and sees there only its own organization's lots by id or code.
            foreign = [lot_id for lot_id, held in chain.lots.items() if held["organization"] != code]
            foreign += [chain.lots[lot_id]["code"] for lot_id in list(foreign)]
            answers: list[tuple[str, dict[str, str]]] = []
            for other in chain.codes:
                sku = f"/v1/skus/{other}-MOTOR"
                answers += [(f"{sku}/{view}", {}) for view in ("origin", "compliance", "disclosure", "flows", "report")]
                answers.append((f"{sku}/disclosure", {"accept": "text/csv"}))
            answers += [(f"/v1/lots/{lot_id}/{view}", {}) for lot_id in chain.lots for view in ("origin", "compliance")]
            answers.append(("/v1/attestations", {}))
            for path, headers in answers:
                response = client.get(path, headers=caller | headers)
                if response.status_code != 200:
                    assert response.status_code == 404, (path, response.text)  # another organization's lot
                    continue
                named = [secret for secret in foreign if secret in response.text]
                assert not named, (code, role, path, named, response.text)
            if sees:
                listed = {
                    lot["id"] for lot in client.get("/v1/lots", params={"limit": 500}, headers=caller).json()["items"]
                }
                assert listed == {lot_id for lot_id, lot in chain.lots.items() if lot["organization"] == code}
