"""EPCIS export and query (MAPPING.md 2, 6.3): one Lodestone event as one EPCIS event; filters, pages, visibility."""

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.epcis import CONTEXT, jsonio
from service.epcis.export import export_all
from service.epcis.schema import DocumentValidator, load_validator, schema_path
from tests.epcis_data import shared_epcis
from tests.helpers import event, lot_input, post_ok

NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
BASE = "urn:lodestone:"
REF_GLN = "9520000000011"
MINER_GLN = "9520000001001"


def validator() -> DocumentValidator:
    """The installed schema (``make install``), else GS1's copy beside the repository."""
    if schema_path(None).is_file():
        return load_validator(None)
    return load_validator(shared_epcis() / "epcis-json-schema-2.0.1.json")


@dataclass
class Chain:
    """A mine, a refinery with a GLN, a plant of another organization, and an event of each type, one voided."""

    client: TestClient
    ids: dict[str, str] = field(default_factory=dict)  # name -> Lodestone event id
    lots: dict[str, str] = field(default_factory=dict)  # code -> lot id
    keys: dict[str, str] = field(default_factory=dict)  # organization/role -> Authorization header

    def record(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        recorded = post_ok(self.client, "/v1/events", body)
        self.ids[name] = recorded["id"]
        for lot in recorded["outputs"]:
            self.lots[lot["code"]] = lot["id"]
        return recorded

    def eid(self, name: str) -> str:
        return f"urn:uuid:{self.ids[name]}"

    def query(self, who: str | None = None, **params: Any) -> list[dict[str, Any]]:
        """Every event the query answers, following the pages."""
        events: list[dict[str, Any]] = []
        response = self.client.get("/v1/epcis/events", params=params, headers=self.header(who))
        while True:
            events += events_of(response)
            found = NEXT.search(response.headers.get("link", ""))
            if found is None:
                return events
            response = self.client.get(found.group(1), headers=self.header(who))

    def header(self, who: str | None) -> dict[str, str]:
        return {"Authorization": self.keys[who]} if who else {}


def events_of(response: Any) -> list[dict[str, Any]]:
    """The events of a valid EPCISQueryDocument answer (checked against the EPCIS 2.0.1 schema)."""
    assert response.status_code == 200, response.text
    document = jsonio.loads(response.content)
    assert validator().errors(document) == []
    assert document["@context"] == CONTEXT
    assert document["type"] == "EPCISQueryDocument"
    assert document["schemaVersion"] == "2.0"
    assert document["epcisBody"]["queryResults"]["queryName"] == "SimpleEventQuery"
    events: list[dict[str, Any]] = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


@pytest.fixture
def chain(client: TestClient) -> Chain:
    chain = Chain(client)
    post_ok(client, "/v1/organizations", {"code": "MINER", "name": "Miner", "country": "AU", "gln": MINER_GLN})
    post_ok(client, "/v1/organizations", {"code": "MAKER", "name": "Maker", "country": "US"})
    facilities = [
        {"code": "MINE", "name": "Mine", "organization": "MINER", "country": "AU", "stages": ["mining"]},
        {"code": "REF", "name": "Refinery", "organization": "MINER", "country": "MY", "stages": ["refining"],
         "gln": REF_GLN},
        {"code": "PLANT", "name": "Plant", "organization": "MAKER", "country": "US", "stages": ["manufacturing"]},
    ]  # fmt: skip
    for facility in facilities:
        post_ok(client, "/v1/facilities", facility)
    for organization in ("MINER", "MAKER"):
        for role in ("recorder", "viewer"):
            key = post_ok(client, "/v1/api-keys", {"organization": organization, "role": role, "name": role})["key"]
            chain.keys[f"{organization}/{role}"] = f"Bearer {key}"
    ore = {"code": "MINE-1", "material": "ore", "quantity": "1200.5", "unit": "kg",
           "composition": {"Nd": "100", "Pr": "20.5"}}  # fmt: skip
    chain.record("extraction", event("extraction", "MINE", outputs=[ore]))
    chain.record(
        "transfer",
        event(
            "transfer", "MINE", "2025-06-02", reference="DESADV-1",
            inputs=[lot_input("MINE-1", "1200.5")], outputs=[{"code": "REF-IN-1", "facility": "REF"}],
        ),
    )  # fmt: skip
    oxide = {"code": "REF-OX-1", "material": "oxide", "quantity": "300", "unit": "kg", "composition": {"Nd": "80"}}
    chain.record(
        "processing",
        event("processing", "REF", "2025-06-03", stage="refining", inputs=[lot_input("REF-IN-1", "1000")],
              outputs=[oxide]),
    )  # fmt: skip
    magnets = {"code": "PLANT-R-1", "material": "magnet", "quantity": "100", "unit": "pcs",
               "composition": {"Nd": "20"}, "declared_origin": [{"route": {"mining": "CN"}, "percent": "60"}],
               "value": {"amount": "250000.00", "currency": "USD"}}  # fmt: skip
    chain.record("receipt", event("receipt", "PLANT", "2025-06-04", outputs=[magnets]))
    spare = {"code": "MINE-2", "material": "ore", "quantity": "5", "unit": "t", "composition": {"Nd": "1"}}
    chain.record("voided", event("extraction", "MINE", "2025-06-05", outputs=[spare]))
    post_ok(client, f"/v1/events/{chain.ids['voided']}/void", {})
    return chain


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["eventID"]: e for e in events if "errorDeclaration" not in e}


def test_each_event_type_maps_as_the_mapping_says(chain: Chain) -> None:
    events = by_id(chain.query())
    mine, ref = f"{BASE}facility/MINE", f"https://id.gs1.org/414/{REF_GLN}"
    miner = f"https://id.gs1.org/417/{MINER_GLN}"

    extraction = events[chain.eid("extraction")]
    assert extraction["type"] == "ObjectEvent"
    assert (extraction["action"], extraction["bizStep"], extraction["disposition"]) == (
        "ADD",
        "commissioning",
        "active",
    )
    assert extraction["eventTime"] == "2025-06-01T00:00:00Z"
    assert extraction["eventTimeZoneOffset"] == "+00:00"
    assert extraction["recordTime"].endswith("Z")
    assert extraction["readPoint"] == extraction["bizLocation"] == {"id": mine}
    assert extraction["quantityList"] == [
        {"epcClass": f"{BASE}lot/MINER/MINE-1", "quantity": Decimal("1200.5"), "uom": "KGM"}
    ]
    (lot,) = extraction["ilmd"]["lodestone:lots"]
    assert lot["lodestone:epcClass"] == f"{BASE}lot/MINER/MINE-1"
    assert (lot["lodestone:code"], lot["lodestone:organization"], lot["lodestone:material"]) == (
        "MINE-1",
        "MINER",
        "ore",
    )
    assert lot["lodestone:composition"] == {"lodestone:Nd": "100", "lodestone:Pr": "20.5"}
    assert "lodestone:derivedComposition" not in lot
    assert lot["lodestone:origin"] == [
        {"lodestone:mining": "AU", "lodestone:refining": "none", "lodestone:metal_making": "none",
         "lodestone:magnet_making": "none", "lodestone:manufacturing": "none", "lodestone:kg": "120.5",
         "lodestone:percent": "100"}
    ]  # fmt: skip
    assert extraction["lodestone:eventType"] == "extraction"
    assert extraction["lodestone:facility"] == "MINE"
    assert "lodestone:reference" not in extraction
    assert "transformationID" not in extraction

    transfer = events[chain.eid("transfer")]
    assert transfer["type"] == "TransformationEvent"
    assert (transfer["bizStep"], transfer["disposition"]) == ("shipping", "in_transit")
    assert "bizLocation" not in transfer
    assert "action" not in transfer
    assert "transformationID" not in transfer
    assert transfer["readPoint"] == {"id": mine}
    assert transfer["inputQuantityList"] == [
        {"epcClass": f"{BASE}lot/MINER/MINE-1", "quantity": Decimal("1200.5"), "uom": "KGM"}
    ]
    assert transfer["outputQuantityList"] == [
        {"epcClass": f"{BASE}lot/MINER/REF-IN-1", "quantity": Decimal("1200.5"), "uom": "KGM"}
    ]
    assert transfer["sourceList"] == [
        {"type": "owning_party", "source": miner},
        {"type": "location", "source": mine},
    ]
    assert transfer["destinationList"] == [
        {"type": "owning_party", "destination": miner},
        {"type": "location", "destination": ref},
    ]
    (lot,) = transfer["ilmd"]["lodestone:lots"]
    assert lot["lodestone:facility"] == "REF"
    assert lot["lodestone:derivedComposition"] == {"lodestone:Nd": "100", "lodestone:Pr": "20.5"}
    assert "lodestone:composition" not in lot
    assert transfer["lodestone:reference"] == "DESADV-1"

    processing = events[chain.eid("processing")]
    assert processing["type"] == "TransformationEvent"
    assert (processing["bizStep"], processing["disposition"]) == ("commissioning", "active")
    assert processing["transformationID"] == chain.eid("processing")
    assert processing["readPoint"] == processing["bizLocation"] == {"id": ref}
    assert processing["inputQuantityList"][0]["quantity"] == 1000
    assert processing["outputQuantityList"] == [
        {"epcClass": f"{BASE}lot/MINER/REF-OX-1", "quantity": 300, "uom": "KGM"}
    ]
    assert processing["lodestone:stage"] == "refining"
    assert processing["ilmd"]["lodestone:lots"][0]["lodestone:composition"] == {"lodestone:Nd": "80"}

    receipt = events[chain.eid("receipt")]
    assert (receipt["type"], receipt["action"], receipt["bizStep"]) == ("ObjectEvent", "ADD", "receiving")
    assert receipt["quantityList"] == [{"epcClass": f"{BASE}lot/MAKER/PLANT-R-1", "quantity": 100}]  # pcs: no uom
    assert receipt["destinationList"] == [
        {"type": "owning_party", "destination": f"{BASE}org/MAKER"},
        {"type": "location", "destination": f"{BASE}facility/PLANT"},
    ]
    (lot,) = receipt["ilmd"]["lodestone:lots"]
    assert lot["lodestone:declaredOrigin"] == [{"lodestone:mining": "CN", "lodestone:percent": "60"}]
    assert lot["lodestone:value"] == {"lodestone:amount": "250000.00", "lodestone:currency": "USD"}
    assert "lodestone:stage" not in receipt

    voided = events[chain.eid("voided")]
    assert voided["quantityList"][0]["uom"] == "TNE"


def test_quantities_are_exact_json_numbers(chain: Chain) -> None:
    response = chain.client.get("/v1/epcis/events")
    assert response.status_code == 200
    assert '"quantity":1200.5' in response.text
    assert '"quantity":"' not in response.text
    assert not re.search(r'"quantity":-?[0-9.]+[eE]', response.text)


def test_a_voided_event_appears_twice_the_second_time_with_its_error_declaration(chain: Chain) -> None:
    events = [e for e in chain.query() if e["eventID"] == chain.eid("voided")]
    assert len(events) == 2
    original, declared = events
    assert "errorDeclaration" not in original
    voided_at = declared["errorDeclaration"]["declarationTime"]
    assert declared["recordTime"] == voided_at > original["recordTime"]
    assert {k: v for k, v in declared.items() if k not in ("recordTime", "errorDeclaration")} == {
        k: v for k, v in original.items() if k != "recordTime"
    }
    response = chain.client.get(f"/v1/epcis/events/{quote(chain.eid('voided'), safe='')}")
    assert events_of(response) == events


def test_one_event_by_its_id_and_the_event_types(chain: Chain) -> None:
    response = chain.client.get(f"/v1/epcis/events/{quote(chain.eid('processing'), safe='')}")
    (only,) = events_of(response)
    assert only["eventID"] == chain.eid("processing")
    missing = chain.client.get(f"/v1/epcis/events/{quote('urn:uuid:00000000-0000-4000-8000-000000000000', safe='')}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert chain.client.get("/v1/epcis/events/not-an-id").status_code == 404
    assert chain.client.get("/v1/epcis/eventTypes").json() == ["ObjectEvent", "TransformationEvent"]


def test_the_media_type_follows_accept(chain: Chain) -> None:
    plain = chain.client.get("/v1/epcis/events")
    assert plain.headers["content-type"].startswith("application/json")
    linked = chain.client.get("/v1/epcis/events", headers={"Accept": "application/ld+json, application/json"})
    assert linked.headers["content-type"].startswith("application/ld+json")
    assert linked.content == plain.content or events_of(linked) == events_of(plain)


def test_each_filter_finds_what_it_names_and_nothing_else(chain: Chain) -> None:
    ids = {name: chain.eid(name) for name in chain.ids}
    everything = [e["eventID"] for e in chain.query()]
    assert len(everything) == 6  # five events and one error declaration
    recorded = chain.client.get(f"/v1/events/{chain.ids['processing']}").json()["recorded_at"]
    mine_lot, ox_lot = f"{BASE}lot/MINER/MINE-1", f"{BASE}lot/MINER/REF-OX-1"
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"eventType": "TransformationEvent"}, [ids["transfer"], ids["processing"]]),
        ({"eventType": "ObjectEvent|AggregationEvent"},
         [ids["extraction"], ids["receipt"], ids["voided"], ids["voided"]]),
        ({"eventType": "AggregationEvent"}, []),
        ({"GE_eventTime": "2025-06-03T00:00:00Z", "LT_eventTime": "2025-06-05T00:00:00Z"},
         [ids["processing"], ids["receipt"]]),
        ({"LT_eventTime": "2025-06-01T00:00:00Z"}, []),
        ({"GE_recordTime": recorded, "EXISTS_errorDeclaration": "false"},
         [ids["processing"], ids["receipt"], ids["voided"]]),
        ({"LT_recordTime": recorded}, [ids["extraction"], ids["transfer"]]),
        ({"LT_recordTime": "2000-01-01T00:00:00Z"}, []),
        ({"EQ_bizStep": "receiving|https://ref.gs1.org/cbv/BizStep-shipping"}, [ids["transfer"], ids["receipt"]]),
        ({"EQ_bizStep": "https://ref.gs1.org/cbv/BizStep-commissioning", "eventType": "TransformationEvent"},
         [ids["processing"]]),
        ({"EQ_bizStep": "packing"}, []),
        ({"EQ_bizLocation": f"https://id.gs1.org/414/{REF_GLN}"}, [ids["processing"]]),
        ({"EQ_bizLocation": "urn:epc:id:sgln:9520000.00001.0"}, [ids["processing"]]),  # the same GLN as an SGLN
        ({"EQ_bizLocation": f"{BASE}facility/REF"}, [ids["processing"]]),  # its code, though it has a GLN
        ({"EQ_bizLocation": f"{BASE}facility/MINE"}, [ids["extraction"], ids["voided"], ids["voided"]]),
        ({"EQ_bizLocation": f"{BASE}facility/NOWHERE"}, []),
        ({"EQ_readPoint": f"{BASE}facility/MINE"}, [ids["extraction"], ids["transfer"], ids["voided"], ids["voided"]]),
        ({"EQ_readPoint": f"{BASE}facility/PLANT"}, [ids["receipt"]]),
        ({"MATCH_epcClass": mine_lot}, [ids["extraction"]]),
        ({"MATCH_epcClass": ox_lot}, []),
        ({"MATCH_inputEPCClass": mine_lot}, [ids["transfer"]]),
        ({"MATCH_inputEPCClass": ox_lot}, []),
        ({"MATCH_outputEPCClass": ox_lot}, [ids["processing"]]),
        ({"MATCH_outputEPCClass": mine_lot}, []),
        ({"MATCH_anyEPCClass": mine_lot}, [ids["extraction"], ids["transfer"]]),
        ({"MATCH_anyEPCClass": f"{BASE}lot/MINER/REF-*"}, [ids["transfer"], ids["processing"]]),
        ({"MATCH_anyEPCClass": f"{BASE}lot/NOBODY/*"}, []),
        ({"EQ_eventID": f"{ids['receipt']}|{ids['extraction']}"}, [ids["extraction"], ids["receipt"]]),
        ({"EQ_eventID": "urn:uuid:00000000-0000-4000-8000-000000000000"}, []),
        ({"EXISTS_errorDeclaration": "true"}, [ids["voided"]]),
        ({"EXISTS_errorDeclaration": ""}, [ids["voided"]]),
        ({"EQ_transformationID": ids["processing"]}, [ids["processing"]]),
        ({"EQ_transformationID": ids["transfer"]}, []),
    ]  # fmt: skip
    for params, expected in cases:
        assert [e["eventID"] for e in chain.query(**params)] == expected, params


def test_pages_of_one_walk_every_event_exactly_once(chain: Chain) -> None:
    everything = chain.query()
    pages = 0
    seen: list[dict[str, Any]] = []
    response = chain.client.get("/v1/epcis/events", params={"perPage": 1})
    while True:
        page = events_of(response)
        assert len(page) == 1
        seen += page
        pages += 1
        found = NEXT.search(response.headers.get("link", ""))
        if found is None:
            break
        assert "perPage=1" in found.group(1)
        response = chain.client.get(found.group(1))
    assert pages == 6
    assert seen == everything
    # A filter holds across pages.
    declared = chain.query(perPage=1, eventType="ObjectEvent")
    assert [e["eventID"] for e in declared] == [e["eventID"] for e in everything if e["type"] == "ObjectEvent"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"nextPageToken": "not-a-token"}, "nextPageToken"),
        ({"nextPageToken": "eyJhZnRlciI6WzEsN119"}, "nextPageToken"),  # {"after":[1,7]}
        ({"EQ_action": "ADD"}, "EQ_action"),
        ({"orderBy": "eventTime"}, "orderBy"),
        ({"perPage": "0"}, "perPage"),
        ({"perPage": "501"}, "perPage"),
        ({"eventType": "Nonsense"}, "eventType"),
        ({"EQ_bizLocation": "urn:epc:id:sgln:9520000.00001.7"}, "EQ_bizLocation"),  # AI 254
        ({"GE_eventTime": "yesterday"}, "GE_eventTime"),
    ],
)
def test_bad_parameters_are_422_naming_them(client: TestClient, params: dict[str, str], field: str) -> None:
    response = client.get("/v1/epcis/events", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


def test_a_key_sees_only_its_own_organizations_events(chain: Chain) -> None:
    miner = [e["eventID"] for e in chain.query("MINER/recorder")]
    # The MINE -> REF transfer stays within MINER, so its keys get it.
    assert miner == [chain.eid(n) for n in ("extraction", "transfer", "processing", "voided", "voided")]
    maker = chain.query("MAKER/recorder")
    assert [e["eventID"] for e in maker] == [chain.eid("receipt")]
    assert "MINER" not in jsonio.dumps(maker)
    hidden = quote(chain.eid("extraction"), safe="")
    assert chain.client.get(f"/v1/epcis/events/{hidden}", headers=chain.header("MAKER/recorder")).status_code == 404
    assert chain.client.get("/v1/epcis/events", headers=chain.header("MINER/viewer")).status_code == 403
    lot = chain.lots["REF-OX-1"]
    assert chain.client.get(f"/v1/lots/{lot}/epcis", headers=chain.header("MAKER/recorder")).status_code == 404


def test_a_transfer_between_organizations_is_given_to_neither(chain: Chain) -> None:
    client = chain.client
    chain.record(
        "delivery",
        event("transfer", "REF", "2025-06-06", inputs=[lot_input("REF-OX-1", "100")],
              outputs=[{"code": "PLANT-OX-1", "facility": "PLANT"}]),
    )  # fmt: skip
    assert chain.eid("delivery") in [e["eventID"] for e in chain.query()]
    for who in ("MINER/recorder", "MAKER/recorder"):
        assert chain.eid("delivery") not in [e["eventID"] for e in chain.query(who)]
    # The receiver's upstream export stops where the delivery came from.
    response = client.get(f"/v1/lots/{chain.lots['PLANT-OX-1']}/epcis", headers=chain.header("MAKER/recorder"))
    assert events_of(response) == []
    everything = events_of(client.get(f"/v1/lots/{chain.lots['PLANT-OX-1']}/epcis"))
    assert [e["eventID"] for e in everything] == [
        chain.eid(n) for n in ("extraction", "transfer", "processing", "delivery")
    ]


def test_a_lots_export_holds_exactly_its_trace(chain: Chain) -> None:
    client = chain.client
    upstream = events_of(client.get(f"/v1/lots/{chain.lots['REF-OX-1']}/epcis"))
    assert [e["eventID"] for e in upstream] == [chain.eid(n) for n in ("extraction", "transfer", "processing")]
    downstream = events_of(client.get(f"/v1/lots/{chain.lots['MINE-1']}/epcis", params={"direction": "downstream"}))
    assert [e["eventID"] for e in downstream] == [chain.eid(n) for n in ("transfer", "processing")]
    voided = events_of(client.get(f"/v1/lots/{chain.lots['MINE-2']}/epcis"))
    assert [("errorDeclaration" in e) for e in voided] == [False, True]
    own = events_of(client.get(f"/v1/lots/{chain.lots['REF-OX-1']}/epcis", headers=chain.header("MINER/recorder")))
    assert own == upstream
    assert client.get("/v1/lots/00000000-0000-4000-8000-000000000000/epcis").status_code == 404
    assert client.get(f"/v1/lots/{chain.lots['MINE-1']}/epcis", params={"direction": "sideways"}).status_code == 422


def test_a_captured_event_is_exported_exactly_as_sent(chain: Chain) -> None:
    event_id = "urn:uuid:11111111-2222-4333-8444-555555555555"
    sent: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": "2025-06-07T02:00:00+02:00",
        "eventTimeZoneOffset": "+02:00",
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "bizLocation": {"id": f"{BASE}facility/MINE"},
        "quantityList": [{"epcClass": f"{BASE}lot/MINER/MINE-9", "quantity": Decimal("7.250"), "uom": "KGM"}],
        "ilmd": {"lodestone:lots": [{"lodestone:material": "ore", "lodestone:composition": {"lodestone:Nd": "1"}}]},
    }
    document = {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-06-07T00:00:00Z",
        "epcisBody": {"eventList": [sent]},
    }
    response = chain.client.post(
        "/v1/epcis/capture", content=jsonio.dumps(document), headers={"Content-Type": "application/ld+json"}
    )
    assert response.status_code == 202, response.text
    (exported,) = events_of(chain.client.get(f"/v1/epcis/events/{quote(event_id, safe='')}"))
    assert exported == sent
    # Its event time is the same instant as a query bound in UTC.
    found = chain.query(GE_eventTime="2025-06-07T00:00:00Z", EQ_readPoint=f"{BASE}facility/MINE")
    assert [e["eventID"] for e in found] == []  # it names no readPoint
    found = chain.query(GE_eventTime="2025-06-07T00:00:00Z", EQ_bizLocation=f"{BASE}facility/MINE")
    assert [e["eventID"] for e in found] == [event_id]


def test_a_whole_export_is_a_valid_epcis_document(chain: Chain) -> None:
    with Session(chain.client.app.state.engine) as session:  # type: ignore[attr-defined]
        document = export_all(session, BASE, chunk=2)
    assert document["type"] == "EPCISDocument"
    assert validator().errors(jsonio.loads(jsonio.dumps(document))) == []
    assert document["epcisBody"]["eventList"] == chain.query()
