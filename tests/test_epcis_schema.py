"""The EPCIS 2.0.1 JSON schema as installed, and the validator's verdicts and field paths."""

import copy
import hashlib
import importlib.util
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from service.epcis import jsonio
from service.epcis.schema import DocumentValidator, check_formats, load_validator, schema_path
from service.errors import Unavailable
from tests.epcis_data import shared_epcis

ROOT = Path(__file__).resolve().parent.parent
# A dotted path: property names (which may hold ':', '@' or '-') and list indices, or "" for the root.
DOTTED = re.compile(r"^$|^[^.\s]+(\.[^.\s]+)*$")


@pytest.fixture(scope="module")
def validator() -> DocumentValidator:
    return load_validator(None)


def minimal_event() -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2025-06-01T08:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "ADD",
        "bizStep": "commissioning",
        "quantityList": [{"epcClass": "urn:lodestone:lot/MINER/C1", "quantity": Decimal("10000.5"), "uom": "KGM"}],
        "ilmd": {"ls:note": "first lot"},
    }


def minimal_document(**changes: Any) -> dict[str, Any]:
    event = minimal_event() | changes
    return {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"ls": "urn:lodestone:epcis:1:"},
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-06-05T00:00:00Z",
        "epcisBody": {"eventList": [event]},
    }


def fields(validator: DocumentValidator, document: Any) -> list[str]:
    return [error.field for error in validator.errors(document)]


def test_installed_schema_is_the_ratified_one() -> None:
    installed = json.loads(schema_path(None).read_bytes())
    ratified = json.loads((shared_epcis() / "epcis-json-schema-2.0.1.json").read_bytes())
    installed.pop("$id")
    ratified.pop("$id")
    assert installed == ratified


def test_installed_schema_has_the_hash_the_script_pins() -> None:
    spec = importlib.util.spec_from_file_location("fetch_epcis_schema", ROOT / "scripts" / "fetch_epcis_schema.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert hashlib.sha256(schema_path(None).read_bytes()).hexdigest() == script.RESULT_SHA256


def test_gs1_examples_are_valid(validator: DocumentValidator) -> None:
    examples = sorted((shared_epcis() / "gs1" / "examples").rglob("*.jsonld"))
    assert len(examples) >= 13
    for example in examples:
        assert validator.errors(jsonio.loads(example.read_bytes())) == [], example.name


def test_openepcis_capture_documents_are_valid(validator: DocumentValidator) -> None:
    # MAPPING.md 7 names two sensor documents that fail: they are not among these five.
    documents = sorted((shared_epcis() / "openepcis" / "capture" / "Documents").glob("*.json"))
    assert len(documents) == 5
    for document in documents:
        assert validator.errors(jsonio.loads(document.read_bytes())) == [], document.name


def test_openepcis_invalid_documents_are_refused_at_dotted_paths(validator: DocumentValidator) -> None:
    documents = sorted((shared_epcis() / "openepcis" / "capture" / "Invalid").glob("*.json"))
    assert len(documents) == 15
    for document in documents:
        errors = validator.errors(jsonio.loads(document.read_bytes()))
        print(document.name, [(error.field, error.message) for error in errors])
        assert errors, document.name
        for error in errors:
            assert DOTTED.match(error.field), error
            assert 0 < len(error.message) <= 250, error
    refused = {document.name: validator.errors(jsonio.loads(document.read_bytes()))[0].field for document in documents}
    assert refused["EPCISDocument_without_context.json"] == ""
    assert refused["ObjectEvent_with_non_standard_bizStep_in_second_event.json"] == "epcisBody.eventList.1.bizStep"
    assert refused["ObjectEvent_with_invalid_action.json"] == "epcisBody.eventList.0.action"
    assert refused["ObjectEvent_with_invalid_eventTime_format.json"] == "epcisBody.eventList.0.eventTime"


def test_minimal_document_is_valid(validator: DocumentValidator) -> None:
    document = minimal_document()
    assert validator.is_valid(document)
    assert validator.errors(document) == []


def test_a_bizstep_that_is_neither_cbv_nor_a_uri_is_refused(validator: DocumentValidator) -> None:
    assert fields(validator, minimal_document(bizStep="transforming")) == ["epcisBody.eventList.0.bizStep"]
    assert validator.errors(minimal_document(bizStep="urn:example:bizstep:transforming")) == []


def test_an_ilmd_key_without_prefix_is_refused(validator: DocumentValidator) -> None:
    errors = validator.errors(minimal_document(ilmd={"note": "first lot"}))
    assert [error.field for error in errors] == ["epcisBody.eventList.0.ilmd"]
    assert "note" in errors[0].message


@pytest.mark.parametrize("quantity", [Decimal("10000.5"), Decimal("1E+4"), 10000, 0.5])
def test_a_number_quantity_passes_decimal_included(validator: DocumentValidator, quantity: Any) -> None:
    document = minimal_document()
    document["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] = quantity
    assert validator.errors(document) == []


@pytest.mark.parametrize("quantity", ["10000", True, None])
def test_a_quantity_that_is_not_a_number_is_refused(validator: DocumentValidator, quantity: Any) -> None:
    document = minimal_document()
    document["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] = quantity
    errors = validator.errors(document)
    assert [error.field for error in errors] == ["epcisBody.eventList.0.quantityList.0.quantity"]
    assert "number" in errors[0].message


def test_decimals_from_the_wire_are_numbers(validator: DocumentValidator) -> None:
    text = jsonio.dumps(minimal_document())
    assert validator.errors(jsonio.loads(text)) == []
    assert fields(validator, jsonio.loads(text.replace('"quantity":10000.5', '"quantity":"10000.5"'))) == [
        "epcisBody.eventList.0.quantityList.0.quantity"
    ]


def test_an_event_time_without_offset_is_refused(validator: DocumentValidator) -> None:
    errors = validator.errors(minimal_document(eventTime="2025-06-01T08:00:00"))
    assert [error.field for error in errors] == ["epcisBody.eventList.0.eventTime"]
    assert "date-time" in errors[0].message


def test_formats_are_checked() -> None:
    check_formats()


def test_errors_are_limited_and_name_every_event(validator: DocumentValidator) -> None:
    document = minimal_document(bizStep="transforming")
    document["epcisBody"]["eventList"] *= 30
    errors = validator.errors(document)
    assert len(errors) == 20
    assert len(validator.errors(document, limit=3)) == 3
    assert {error.field for error in validator.errors(document, limit=100)} == {
        f"epcisBody.eventList.{i}.bizStep" for i in range(30)
    }


def test_a_missing_schema_file_is_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "epcis-json-schema.json"
    with pytest.raises(Unavailable) as refused:
        load_validator(missing)
    assert str(missing) in refused.value.detail
    assert "make install" in refused.value.detail
    assert refused.value.status == 503


def test_a_configured_schema_file_is_used(tmp_path: Path) -> None:
    strict = json.loads(schema_path(None).read_bytes())
    strict["required"] = [*strict["required"], "sender"]
    configured = tmp_path / "schema.json"
    configured.write_text(json.dumps(strict))
    document = minimal_document()
    assert load_validator(None).errors(document) == []
    assert fields(load_validator(configured), copy.deepcopy(document)) == [""]
