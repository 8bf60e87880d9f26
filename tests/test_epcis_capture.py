"""EPCIS capture through HTTP on both databases: mapping, all or nothing, identity, refusals naming their place."""

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.demo import load_demo
from service.epcis import jsonio
from tests.helpers import post_ok

BASE = "urn:lodestone:"
MINE_GLN = "0614141008889"
CONTEXT: list[Any] = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"ls": "urn:lodestone:epcis:1:"},  # any prefix: the namespace decides
]
LD = {"Content-Type": "application/ld+json"}


def setup_chain(client: httpx.Client) -> None:
    """A mine with a GLN, a refinery, a magnet maker with a SKU, and keys by role."""
    post_ok(client, "/v1/organizations", {"code": "MINER", "name": "Miner", "country": "AU", "gln": "0614141000005"})
    post_ok(client, "/v1/organizations", {"code": "MAKER", "name": "Maker", "country": "DE"})
    for code, org, country, stages, gln in (
        ("MINE", "MINER", "AU", ["mining"], MINE_GLN),
        ("REF", "MINER", "MY", ["refining"], None),
        ("MAG", "MAKER", "DE", ["magnet_making"], None),
    ):
        body: dict[str, Any] = {"code": code, "name": code, "organization": org, "country": country, "stages": stages}
        if gln:
            body["gln"] = gln
        post_ok(client, "/v1/facilities", body)
    post_ok(
        client, "/v1/skus", {"sku": "MAG-N52", "name": "N52 magnet", "organization": "MAKER", "gtin": "04012345123456"}
    )


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-06-05T00:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def extraction(code: str = "C1", quantity: Any = 10000, day: str = "01") -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": f"2025-06-{day}T08:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "bizLocation": {"id": f"https://id.gs1.org/414/{MINE_GLN}"},
        "quantityList": [{"epcClass": f"{BASE}lot/MINER/{code}", "quantity": quantity, "uom": "KGM"}],
        "ilmd": {
            "ls:lots": [
                {
                    "ls:material": "concentrate",
                    "ls:composition": {"ls:Nd": "900", "ls:Pr": "300", "ls:La": "1500"},
                }
            ]
        },
    }


def refining(source: str = "C1", output: str = "OX1") -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": "2025-06-02T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "bizStep": "commissioning",
        "bizLocation": {"id": f"{BASE}facility/REF"},
        "inputQuantityList": [{"epcClass": f"{BASE}lot/MINER/{source}", "quantity": 10000, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": f"{BASE}lot/MINER/{output}", "quantity": 1200.5, "uom": "KGM"}],
        "ilmd": {"ls:lots": [{"ls:material": "oxide", "ls:composition": {"ls:Nd": "880", "ls:Pr": "290"}}]},
        "ls:stage": "refining",
    }


def shipping(source: str = "C1", output: str = "C1-REF") -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": "2025-06-01T12:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00888.0"},
        "inputQuantityList": [{"epcClass": f"{BASE}lot/MINER/{source}", "quantity": 10000, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": f"{BASE}lot/MINER/{output}", "quantity": 10000, "uom": "KGM"}],
        "destinationList": [{"type": "location", "destination": f"{BASE}facility/REF"}],
    }


def receipt_of_magnets() -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2025-06-03T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "ADD",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "bizLocation": {"id": f"{BASE}facility/MAG"},
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.LOT7", "quantity": 500}],
        "ilmd": {
            "ls:lots": [
                {
                    "ls:material": "magnet",
                    "ls:composition": {"ls:Nd": "30", "ls:Dy": "2"},
                    "ls:declaredOrigin": [{"ls:mining": "AU", "ls:refining": "MY", "ls:percent": "60"}],
                    "ls:value": {"ls:amount": "25000.00", "ls:currency": "EUR"},
                }
            ]
        },
    }


def capture(client: httpx.Client, doc: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/v1/epcis/capture", content=jsonio.dumps(doc), headers={**LD, **headers})


def lot_count(client: httpx.Client) -> int:
    return len(client.get("/v1/lots", params={"limit": 500}).json()["items"])


def audit_length(client: httpx.Client) -> int:
    entries = client.get("/v1/audit", params={"limit": 500}).json()["items"]
    return len(entries)


def test_a_document_is_recorded_in_order_and_equals_the_same_events_recorded_natively(client: TestClient) -> None:
    setup_chain(client)
    answer = capture(client, document(extraction(), shipping(), refining("C1-REF"), receipt_of_magnets()))
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/v1/epcis/capture/{job['captureID']}"
    assert answer.headers["gs1-epcis-version"] == "2.0.0"
    assert (job["success"], job["running"], job["captureErrorBehaviour"]) == (True, False, "rollback")
    assert [e["created"] for e in job["events"]] == [True] * 4
    assert all(
        e["eventID"].startswith("ni:///sha-256;") and e["eventID"].endswith("?ver=CBV2.0") for e in job["events"]
    )
    assert client.get(answer.headers["location"]).json() == job

    kinds = [client.get(f"/v1/events/{e['event']}").json() for e in job["events"]]
    assert [k["type"] for k in kinds] == ["extraction", "transfer", "processing", "receipt"]
    assert (kinds[0]["facility"], kinds[0]["occurred_at"]) == ("MINE", "2025-06-01T00:00:00Z")
    assert kinds[1]["outputs"][0]["facility"] == "REF"
    oxide = kinds[2]["outputs"][0]
    assert (oxide["code"], oxide["quantity"], oxide["unit"]) == ("OX1", "1200.5", "kg")
    magnets = kinds[3]["outputs"][0]
    assert (magnets["code"], magnets["unit"], magnets["sku"]) == ("LOT7", "pcs", "MAG-N52")

    # The same events through the native API, under other codes, answer the same origin.
    native = [
        {"type": "extraction", "facility": "MINE", "occurred_at": "2025-06-01T00:00:00Z", "outputs": [
            {"code": "N-C1", "material": "concentrate", "quantity": "10000", "unit": "kg",
             "composition": {"Nd": "900", "Pr": "300", "La": "1500"}}]},
        {"type": "transfer", "facility": "MINE", "occurred_at": "2025-06-01T12:00:00Z",
         "inputs": [{"lot_code": "N-C1", "organization": "MINER", "quantity": "10000"}],
         "outputs": [{"code": "N-C1-REF", "facility": "REF"}]},
        {"type": "processing", "facility": "REF", "stage": "refining", "occurred_at": "2025-06-02T00:00:00Z",
         "inputs": [{"lot_code": "N-C1-REF", "organization": "MINER", "quantity": "10000"}],
         "outputs": [{"code": "N-OX1", "material": "oxide", "quantity": "1200.5", "unit": "kg",
                      "composition": {"Nd": "880", "Pr": "290"}}]},
    ]  # fmt: skip
    recorded = post_ok(client, "/v1/events/batch", {"events": native})["events"]
    ours = client.get(f"/v1/lots/{oxide['id']}/origin", params={"countries": "AU,MY"}).json()
    theirs = client.get(f"/v1/lots/{recorded[2]['outputs'][0]['id']}/origin", params={"countries": "AU,MY"}).json()
    for answer_body in (ours, theirs):
        for name in ("subject", "explanation", "as_of"):
            answer_body.pop(name)
    assert ours == theirs
    origin = client.get(f"/v1/lots/{magnets['id']}").json()["origin"]
    assert origin == client.get(f"/v1/lots/{magnets['id']}").json()["origin"]  # read twice: stable
    declared = client.get(f"/v1/events/{job['events'][3]['event']}").json()["outputs"][0]
    assert (Decimal(declared["value"]["amount"]), declared["value"]["currency"]) == (Decimal("25000"), "EUR")


def test_capturing_again_records_nothing_and_other_content_under_a_held_event_id_is_409(client: TestClient) -> None:
    setup_chain(client)
    doc = document(extraction(), shipping())
    first = capture(client, doc).json()
    lots, entries = lot_count(client), audit_length(client)
    again = capture(client, doc)
    assert again.status_code == 202
    assert [(e["eventID"], e["event"], e["created"]) for e in again.json()["events"]] == [
        (e["eventID"], e["event"], False) for e in first["events"]
    ]
    assert lot_count(client) == lots
    assert audit_length(client) == entries + 1  # the capture job itself, nothing recorded

    named = extraction("C2")
    named["eventID"] = "urn:uuid:5a7f0c1e-0000-4000-8000-000000000001"
    assert capture(client, document(named)).status_code == 202
    changed = copy.deepcopy(named)
    changed["quantityList"][0]["quantity"] = 9999
    conflict = capture(client, document(extraction("C3"), changed))
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["errors"][0]["field"] == "epcisBody.eventList.1.eventID"
    assert client.get("/v1/lots", params={"code": "C3"}).json()["items"] == []


def test_the_first_refusal_names_its_place_and_records_nothing(client: TestClient) -> None:
    setup_chain(client)
    lots, entries = lot_count(client), audit_length(client)
    cases: list[tuple[dict[str, Any], int, str]] = []

    zero = extraction("Z", quantity=0)
    cases.append((zero, 422, "epcisBody.eventList.1.quantityList.0.quantity"))
    pounds = extraction("P")
    pounds["quantityList"][0]["uom"] = "LBR"
    cases.append((pounds, 422, "epcisBody.eventList.1.quantityList.0.uom"))
    nowhere = extraction("N")
    nowhere["bizLocation"] = {"id": "https://id.gs1.org/414/4012345000009"}
    cases.append((nowhere, 422, "epcisBody.eventList.1.bizLocation.id"))
    bare = extraction("B")
    del bare["ilmd"]["ls:lots"][0]["ls:composition"]
    cases.append((bare, 422, "epcisBody.eventList.1.ilmd.ls:lots.0.ls:composition"))
    serials = extraction("S")
    serials["epcList"] = ["urn:epc:id:sgtin:4012345.011111.1"]
    cases.append((serials, 422, "epcisBody.eventList.1.epcList"))
    aggregation = {
        "type": "AggregationEvent", "eventTime": "2025-06-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
        "action": "ADD", "parentID": "urn:epc:id:sscc:4012345.0000000001",
        "childEPCs": ["urn:epc:id:sgtin:4012345.011111.1"],
    }  # fmt: skip
    cases.append((aggregation, 422, "epcisBody.eventList.1.type"))
    overdrawn = refining(source="OK")  # consumes the document's own first lot, by class
    overdrawn["bizLocation"] = {"id": f"{BASE}facility/MINE"}
    del overdrawn["ls:stage"]
    overdrawn["ilmd"]["ls:lots"][0]["ls:material"] = "concentrate"
    overdrawn["inputQuantityList"][0]["quantity"] = 20000
    cases.append((overdrawn, 409, "epcisBody.eventList.1"))
    taken = extraction("OK")
    taken["eventTime"] = "2025-06-01T09:00:00Z"
    cases.append((taken, 409, "epcisBody.eventList.1"))
    unknown_input = refining(source="NOPE")
    cases.append((unknown_input, 422, "epcisBody.eventList.1.inputQuantityList.0.epcClass"))
    as_text = extraction("T")
    as_text["quantityList"][0]["quantity"] = "10000"
    cases.append((as_text, 422, "epcisBody.eventList.1.quantityList.0.quantity"))

    for bad, status, field in cases:
        answer = capture(client, document(extraction("OK"), bad))
        assert answer.status_code == status, (field, answer.text)
        body = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert any(e["field"].startswith(field) for e in body["errors"]), (field, body)
        assert (lot_count(client), audit_length(client)) == (lots, entries), field


def test_schema_refusals_are_typed_and_media_types_are_checked(client: TestClient) -> None:
    setup_chain(client)
    as_text = extraction()
    as_text["quantityList"][0]["quantity"] = "10000"
    refused = capture(client, document(as_text)).json()
    assert refused["type"] == "urn:lodestone:problem:epcis-schema"
    unmappable = extraction()
    unmappable["epcList"] = ["urn:epc:id:sgtin:4012345.011111.1"]
    assert capture(client, document(unmappable)).json()["type"] == "urn:lodestone:problem:epcis-not-mappable"
    plain = client.post(
        "/v1/epcis/capture", content=jsonio.dumps(document(extraction())), headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 415
    broken = client.post("/v1/epcis/capture", content=b'{"type": ', headers=LD)
    assert broken.status_code == 400
    proceed = capture(client, document(extraction()), **{"GS1-Capture-Error-Behaviour": "proceed"})
    assert proceed.status_code == 422
    assert client.post("/v1/epcis/capture", json=document(extraction())).status_code == 202  # application/json too
    options = client.options("/v1/epcis/capture")
    assert options.status_code == 204
    assert options.headers["gs1-capture-error-behaviour"] == "rollback"
    assert options.headers["gs1-epcis-capture-file-size-limit"] == "1048576"


def test_an_error_declaration_voids_the_event_it_repeats(client: TestClient) -> None:
    setup_chain(client)
    event = extraction()
    job = capture(client, document(event)).json()
    lodestone_id = job["events"][0]["event"]
    declaration = copy.deepcopy(event)
    declaration["eventID"] = job["events"][0]["eventID"]
    declaration["errorDeclaration"] = {"declarationTime": "2025-06-04T00:00:00Z", "reason": "incorrect_data"}
    declared = capture(client, document(declaration))
    assert declared.status_code == 202, declared.text
    assert declared.json()["events"][0] == {
        "eventID": job["events"][0]["eventID"], "event": lodestone_id, "created": True, "action": "voided"
    }  # fmt: skip
    assert client.get(f"/v1/events/{lodestone_id}").json()["status"] == "voided"
    assert capture(client, document(declaration)).json()["events"][0]["created"] is False

    other = extraction("C2")
    held = capture(client, document(other)).json()["events"][0]["eventID"]
    differing = copy.deepcopy(other)
    differing["quantityList"][0]["quantity"] = 1
    differing["eventID"] = held
    differing["errorDeclaration"] = {"declarationTime": "2025-06-04T00:00:00Z"}
    assert capture(client, document(differing)).status_code == 422


def test_observed_shipping_and_its_arrival(client: TestClient) -> None:
    setup_chain(client)
    observed = {
        "type": "ObjectEvent",
        "eventTime": "2025-06-01T12:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "readPoint": {"id": f"{BASE}facility/MINE"},
        "quantityList": [{"epcClass": f"{BASE}lot/MINER/C1", "quantity": 10000, "uom": "KGM"}],
        "destinationList": [{"type": "location", "destination": f"{BASE}facility/REF"}],
        "ls:outputCode": "C1-AT-REF",
    }
    arrival = {
        "type": "ObjectEvent",
        "eventTime": "2025-06-02T12:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "bizLocation": {"id": f"{BASE}facility/REF"},
        "quantityList": [{"epcClass": f"{BASE}lot/MINER/C1", "quantity": 10000, "uom": "KGM"}],
    }
    answer = capture(client, document(extraction(), observed, arrival))
    assert answer.status_code == 202, answer.text
    events = answer.json()["events"]
    assert [e["action"] for e in events] == ["recorded", "recorded", "none"]
    moved = client.get(f"/v1/events/{events[1]['event']}").json()
    assert (moved["type"], moved["outputs"][0]["code"]) == ("transfer", "C1-AT-REF")
    alone: dict[str, Any] = copy.deepcopy(arrival)
    alone["quantityList"][0]["epcClass"] = f"{BASE}lot/MINER/ELSEWHERE"
    assert capture(client, document(alone)).status_code == 422


def test_roles_are_those_of_recording_events(client: TestClient) -> None:
    setup_chain(client)
    viewer = post_ok(client, "/v1/api-keys", {"organization": "MINER", "role": "viewer", "name": "v"})["key"]
    maker = post_ok(client, "/v1/api-keys", {"organization": "MAKER", "role": "recorder", "name": "r"})["key"]
    miner = post_ok(client, "/v1/api-keys", {"organization": "MINER", "role": "recorder", "name": "m"})["key"]
    doc = document(extraction())
    as_viewer = capture(client, doc, Authorization=f"Bearer {viewer}")
    assert as_viewer.status_code == 403
    assert capture(client, doc, Authorization=f"Bearer {maker}").status_code == 403  # another's mine
    mine = capture(client, doc, Authorization=f"Bearer {miner}")
    assert mine.status_code == 202
    job_path = mine.headers["location"]
    assert client.get(job_path, headers={"Authorization": f"Bearer {maker}"}).status_code == 404
    assert client.get(job_path, headers={"Authorization": f"Bearer {viewer}"}).status_code == 403  # as events
    listed = client.get("/v1/epcis/capture", headers={"Authorization": f"Bearer {maker}"}).json()["items"]
    assert listed == []


def test_quantities_stay_exact(client: TestClient) -> None:
    setup_chain(client)
    doc = document(extraction(quantity=Decimal("10000.000001")))
    job = capture(client, doc).json()
    made = client.get(f"/v1/events/{job['events'][0]['event']}").json()["outputs"][0]
    assert made["quantity"] == "10000.000001"
    exponent = extraction("E")
    exponent["quantityList"][0]["quantity"] = Decimal("1E+4")
    made = client.get(f"/v1/events/{capture(client, document(exponent)).json()['events'][0]['event']}").json()
    assert made["outputs"][0]["quantity"] == "10000"


@pytest.mark.parametrize("gln", ["061414100888", "0614141008888", "06141410088890"])
def test_a_gln_is_thirteen_digits_with_its_check_digit(client: TestClient, gln: str) -> None:
    answer = client.post("/v1/organizations", json={"code": "X", "name": "X", "country": "DE", "gln": gln})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "gln"


def test_a_gln_belongs_to_one_facility(client: TestClient) -> None:
    setup_chain(client)
    again = {"code": "MINE2", "name": "M", "organization": "MINER", "country": "AU", "stages": [], "gln": MINE_GLN}
    assert client.post("/v1/facilities", json=again).status_code == 409
    assert client.get("/v1/facilities/MINE").json()["gln"] == MINE_GLN


def test_the_readme_example_captures_into_the_demo(client: TestClient) -> None:
    """docs/examples/epcis-receipt.jsonld, as the README sends it to `make run`'s demo."""
    load_demo(client.app.state.engine)  # type: ignore[attr-defined]
    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "epcis-receipt.jsonld"
    answer = client.post("/v1/epcis/capture", content=example.read_bytes(), headers=LD)
    assert answer.status_code == 202, answer.text
    event = client.get(f"/v1/events/{answer.json()['events'][0]['event']}").json()
    assert (event["type"], event["facility"], event["occurred_at"]) == ("receipt", "TAKEFU", "2025-06-09T23:30:00Z")
    lot = event["outputs"][0]
    assert (lot["code"], lot["material"], lot["quantity"]) == ("998877", "oxide", "200")
    assert lot["origin"]["stages"]["mining"] == {"AU": "60", "unknown": "40"}
    shipped = client.get("/v1/epcis/events", params={"EQ_bizStep": "shipping", "perPage": 2})
    assert shipped.status_code == 200
    assert 'rel="next"' in shipped.headers["link"]


def test_an_idempotency_key_replays_the_capture_job(client: TestClient) -> None:
    setup_chain(client)
    key = {"Idempotency-Key": "capture-1"}
    first = capture(client, document(extraction()), **key)
    again = capture(client, document(extraction()), **key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()  # the same job, not a second one
    assert len(client.get("/v1/epcis/capture").json()["items"]) == 1
    other = capture(client, document(extraction("C2")), **key)
    assert other.status_code == 422  # the key was used with another body


def test_one_event_is_captured_at_the_events_resource(client: TestClient) -> None:
    setup_chain(client)
    event = {"@context": CONTEXT} | extraction()
    created = client.post("/v1/epcis/events", content=jsonio.dumps(event), headers=LD)
    assert created.status_code == 201, created.text
    assert created.json()["created"] is True
    found = client.get(created.headers["location"])
    assert found.status_code == 200, found.text
    listed = found.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["eventID"] for e in listed] == [created.json()["eventID"]]
    again = client.post("/v1/epcis/events", content=jsonio.dumps(event), headers=LD)
    assert (again.status_code, again.json()["created"]) == (200, False)
    zero = {"@context": CONTEXT} | extraction("Z", quantity=0)
    refused = client.post("/v1/epcis/events", content=jsonio.dumps(zero), headers=LD)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "quantityList.0.quantity"


def test_an_event_repeated_within_a_document_is_recorded_once(client: TestClient) -> None:
    setup_chain(client)
    answer = capture(client, document(extraction(), extraction()))
    assert answer.status_code == 202, answer.text
    first, second = answer.json()["events"]
    assert (first["created"], second["created"]) == (True, False)
    assert second["eventID"] == first["eventID"]
    assert client.get("/v1/lots", params={"code": "C1"}).json()["items"][0]["status"] == "active"
    assert lot_count(client) == 1
