"""GS1's EPCIS examples and OpenEPCIS's capture documents through capture: recorded where they map, else a 422
that says why, never a 5xx, and nothing recorded by a refused document.

The documents are third-party data beside the repository (``tests/epcis_data.py``): absent, these tests skip.
"""

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.epcis import NAMESPACE
from tests.epcis_data import SHARED_EPCIS, shared_epcis
from tests.helpers import post_ok

INSTANCE = ("instance-level EPCs are not supported", "epcis-not-mappable")
UNSUPPORTED = ("is not supported by Lodestone", "epcis-not-mappable")
ARRIVAL = ("Lodestone records a transfer once, at the sender", "epcis-not-mappable")
# Each document that maps to nothing Lodestone records, and why: (place, what the message says, problem type).
EXPECTED: dict[str, tuple[str, str, str]] = {
    "gs1/examples/EPCISQueryDocument.jsonld": ("epcisBody.queryResults.resultsBody.eventList.0.epcList", *INSTANCE),
    "gs1/examples/Example_9.6.1-ObjectEvent.jsonld": ("epcisBody.eventList.0.epcList", *INSTANCE),
    "gs1/examples/Example_9.6.2-ObjectEvent.jsonld": ("epcisBody.eventList.0.quantityList.0.epcClass", *ARRIVAL),
    "gs1/examples/Example_9.6.3-AggregationEvent.jsonld": ("epcisBody.eventList.0.type", *UNSUPPORTED),
    "gs1/examples/Example_9.6.4-TransformationEvent.jsonld": ("epcisBody.eventList.0.inputEPCList", *INSTANCE),
    "gs1/examples/PersistentDisposition-example.jsonld": ("epcisBody.eventList.0.epcList", *INSTANCE),
    "gs1/examples/WithDigitalLinkID/Example_9.6.2-ObjectEventWithDigitalLink.jsonld": (
        "epcisBody.eventList.0.quantityList.0.epcClass", *ARRIVAL),
    "gs1/examples/WithDigitalLinkID/Example_9.6.4-TransformationEventWithDigitalLink.jsonld": (
        "epcisBody.eventList.0.inputEPCList", *INSTANCE),
    "gs1/examples/WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld": (
        "epcisBody.eventList.0.inputEPCList", *INSTANCE),
    "gs1/examples/WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld": (
        "epcisBody.eventList.0.epcList", *INSTANCE),
    "gs1/examples/WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld": (
        "epcisBody.eventList.0.type", *UNSUPPORTED),
    "gs1/examples/WithFullCombinationOfFields/object_event_all_possible_fields.jsonld": (
        "epcisBody.eventList.0.epcList", *INSTANCE),
    "gs1/examples/WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld": (
        "epcisBody.eventList.0.inputEPCList", *INSTANCE),
    "openepcis/capture/Documents/ObjectEvent_all_possible_fields.json": ("epcisBody.eventList.0.epcList", *INSTANCE),
    "openepcis/capture/Documents/ObjectEvent_with_digitalLink.json": (
        "epcisBody.eventList.0.quantityList.0.epcClass", *ARRIVAL),
    "openepcis/capture/Documents/ObjectEvent_with_userExtensions.json": ("epcisBody.eventList.0.epcList", *INSTANCE),
    "openepcis/capture/Documents/TransformationEvent_all_possible_fields.json": (
        "epcisBody.eventList.0.inputEPCList", *INSTANCE),
    "openepcis/capture/Documents/TransformationEvent_with_error_declaration.json": (
        "epcisBody.eventList.0.inputEPCList", *INSTANCE),
}  # fmt: skip


def corpus() -> list[str]:
    """Every GS1 example and OpenEPCIS capture document, named relative to the data folder (none when absent)."""
    if not SHARED_EPCIS.is_dir():
        return sorted(EXPECTED)  # the tests skip, naming the folder
    found = [*SHARED_EPCIS.glob("gs1/examples/**/*.jsonld"), *SHARED_EPCIS.glob("openepcis/capture/Documents/*.json")]
    return sorted(str(path.relative_to(SHARED_EPCIS)) for path in found)


def invalid_documents() -> list[str]:
    if not SHARED_EPCIS.is_dir():
        return ["openepcis/capture/Invalid"]
    return sorted(str(p.relative_to(SHARED_EPCIS)) for p in SHARED_EPCIS.glob("openepcis/capture/Invalid/*.json"))


def setup_gs1_places(client: httpx.Client) -> None:
    """Facilities at the GLNs GS1's examples use (SGLN 0614141.00888.0 and 0614141.00777.0)."""
    post_ok(client, "/v1/organizations", {"code": "GS1EX", "name": "Example", "country": "DE"})
    for code, gln in (("F888", "0614141008889"), ("F777", "0614141007776")):
        body = {"code": code, "name": code, "organization": "GS1EX", "country": "MY", "stages": ["refining"]}
        post_ok(client, "/v1/facilities", body | {"gln": gln})


def recorded(client: httpx.Client) -> tuple[int, int]:
    lots = client.get("/v1/lots", params={"limit": 500}).json()["items"]
    audit = client.get("/v1/audit", params={"limit": 500}).json()["items"]
    return len(lots), len(audit)


def capture_file(client: httpx.Client, path: Path) -> httpx.Response:
    return client.post("/v1/epcis/capture", content=path.read_bytes(), headers={"Content-Type": "application/ld+json"})


def test_every_document_of_the_corpus_has_its_expected_answer() -> None:
    shared_epcis()
    assert corpus() == sorted(EXPECTED), "a document was added to or removed from the corpus: say how it maps"


@pytest.mark.parametrize("name", corpus())
def test_a_document_that_does_not_map_is_refused_naming_why(client: TestClient, name: str) -> None:
    folder = shared_epcis()
    setup_gs1_places(client)
    before = recorded(client)
    answer = capture_file(client, folder / name)
    assert answer.status_code == 422, answer.text
    field, message, slug = EXPECTED[name]
    problem = answer.json()
    assert problem["type"] == f"urn:lodestone:problem:{slug}"
    assert problem["errors"][0]["field"] == field
    assert message in problem["errors"][0]["message"]
    assert recorded(client) == before


@pytest.mark.parametrize("name", invalid_documents())
def test_an_invalid_document_is_refused_by_the_schema_and_records_nothing(client: TestClient, name: str) -> None:
    folder = shared_epcis()
    setup_gs1_places(client)
    before = recorded(client)
    answer = capture_file(client, folder / name)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "urn:lodestone:problem:epcis-schema"
    assert answer.json()["errors"], "every refusal names at least one place"
    assert recorded(client) == before


def test_the_invalid_set_is_whole() -> None:
    shared_epcis()
    assert len(invalid_documents()) == 15


def lodestone_lots(material: str, composition: dict[str, str]) -> dict[str, Any]:
    return {
        "lodestone:lots": [
            {
                "lodestone:material": material,
                "lodestone:composition": {f"lodestone:{k}": v for k, v in composition.items()},
            }
        ]
    }


def test_gs1_receiving_example_with_lodestone_data_is_a_receipt(client: TestClient) -> None:
    """MAPPING.md's sample (GS1 9.6.2 as ADD, with ILMD): a receipt whose origin is MY from refining on."""
    folder = shared_epcis()
    setup_gs1_places(client)
    answer = capture_file(client, folder / "samples" / "capture-receipt-from-gs1-9.6.2.jsonld")
    assert answer.status_code == 202, answer.text
    event = client.get(f"/v1/events/{answer.json()['events'][0]['event']}").json()
    assert (event["type"], event["facility"], event["occurred_at"]) == (
        "receipt",
        "F888",
        "2013-06-08T14:58:56.591000Z",
    )
    lot = event["outputs"][0]
    assert (lot["code"], lot["quantity"], lot["unit"], lot["material"]) == ("998877", "200", "kg", "oxide")
    stages = lot["origin"]["stages"]
    assert stages["refining"] == {"MY": "100"}
    assert stages["mining"] == {"unknown": "100"}


def test_gs1_digital_link_example_enriched_is_a_receipt(client: TestClient) -> None:
    """GS1 9.6.2 with Digital Link identifiers, made an ADD and given the ILMD Lodestone needs."""
    folder = shared_epcis()
    setup_gs1_places(client)
    path = folder / "gs1/examples/WithDigitalLinkID/Example_9.6.2-ObjectEventWithDigitalLink.jsonld"
    document: dict[str, Any] = json.loads(path.read_text())
    enriched = copy.deepcopy(document)
    enriched["@context"] = [*enriched["@context"], {"lodestone": NAMESPACE}]
    event = enriched["epcisBody"]["eventList"][0]
    event["action"] = "ADD"
    event["ilmd"] = lodestone_lots("oxide", {"Nd": "100", "Pr": "30"})
    answer = client.post("/v1/epcis/capture", json=enriched)
    assert answer.status_code == 202, answer.text
    recorded_event = client.get(f"/v1/events/{answer.json()['events'][0]['event']}").json()
    assert recorded_event["type"] == "receipt"
    assert recorded_event["outputs"][0]["origin"]["stages"]["refining"] == {"unknown": "100"}
