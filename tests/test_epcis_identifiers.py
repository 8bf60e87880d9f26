"""EPCIS identifiers read back and canonicalised; no shared data: the conversions are the reference normaliser's."""

import pytest

from service.epcis.identifiers import (
    LotClass,
    Party,
    Place,
    canonical_uri,
    facility_uri,
    gln_is_valid,
    lot_uri,
    organization_uri,
    parse_lot_class,
    parse_party,
    parse_place,
)

BASE = "https://lodestone.example/id/"


def test_gln_validity() -> None:
    assert gln_is_valid("0614141008889")
    assert gln_is_valid("9520000000011")
    assert not gln_is_valid("0614141008888")  # check digit
    assert not gln_is_valid("061414100888")  # 12 digits
    assert not gln_is_valid("061414100888X")
    assert not gln_is_valid("٠٦١٤١٤١٠٠٨٨٨٩")  # digits, but not ASCII ones


# (input, what epcis-event-hash-generator 1.9.3's dl_normaliser answers); the first four are MAPPING.md 1.2's.
CANONICAL = [
    ("urn:epc:id:sgln:0614141.00888.0", "https://id.gs1.org/414/0614141008889"),
    ("urn:epc:id:pgln:4012345.00225", "https://id.gs1.org/417/4012345002256"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
    ("urn:epc:idpat:sgtin:4012345.044444.*", "https://id.gs1.org/01/04012345444445"),
    ("urn:epc:id:sscc:4012345.0000000333", "https://id.gs1.org/00/040123450000003338"),
    ("urn:epc:id:sgln:4012345.00011.987", "https://id.gs1.org/414/4012345000115/254/987"),
    ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
    ("urn:epc:id:sgtin:0614141.107346.A%2Fb!c", "https://id.gs1.org/01/10614141073464/21/A%2Fb%21c"),
    ("urn:epc:id:giai:4000001.111", "https://id.gs1.org/8004/4000001111"),
    ("urn:epc:id:gdti:4012345.11111.123", "https://id.gs1.org/253/4012345111118123"),
    ("urn:epc:id:grai:0614141.12345.400", "https://id.gs1.org/8003/00614141123452400"),
    ("urn:epc:id:gsrn:0614141.0000010253", "https://id.gs1.org/8018/061414100000102534"),
    ("urn:epc:id:sgcn:4012345.67890.04711", "https://id.gs1.org/255/401234567890104711"),
    ("urn:epc:idpat:grai:0614141.12345.*", "https://id.gs1.org/8003/00614141123452"),
    ("urn:epc:class:lgtin:4012345.012345.a:b", "https://id.gs1.org/01/04012345123456/10/a%3Ab"),
    ("urn:epc:class:lgtin:012345678901.0.X1", "https://id.gs1.org/01/00123456789012/10/X1"),
    ("urn:epc:id:sgln:012345678901..0", "https://id.gs1.org/414/0123456789012"),
    ("https://example.com/01/09506000134352/10/ABC", "https://id.gs1.org/01/09506000134352/10/ABC"),
    ("https://example.com/gtin/9506000134352/lot/ABC/ser/1", "https://id.gs1.org/01/09506000134352/21/1"),
    ("http://id.gs1.org/01/9506000134352", "https://id.gs1.org/01/09506000134352"),
    ("https://id.gs1.org/01/09506000134352/22/2A/10/L1", "https://id.gs1.org/01/09506000134352/10/L1"),
    ("https://id.gs1.org/01/09506000134352?17=201231", "https://id.gs1.org/01/09506000134352"),
    ("https://foo.example/414/9520000000011/254/12", "https://id.gs1.org/414/9520000000011/254/12"),
    ("https://id.gs1.org/417/9520000001001", "https://id.gs1.org/417/9520000001001"),
]
UNCHANGED = [
    "urn:epc:id:sgtin:4012345.01111.9876",  # 12 digits where 13 belong
    "https://example.com/some/prefix/01/09506000134352/10/AB%2FC",  # the reference keeps an escaped link as written
    "https://id.gs1.org/01/09506000134352/21/S1/10/L1",
    "https://id.gs1.org/01/09506000134352/",
    "https://lodestone.example/id/facility/MTW",
    "https://lodestone.example/id/lot/LYNAS/MTW-C1",
    "urn:uuid:0d6f5c1e-6b1a-4c59-9a53-1f3e7f1a0003",
    "urn:epcglobal:cbv:bt:0614141073467:1152",
    "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
]


@pytest.mark.parametrize(("uri", "canonical"), CANONICAL)
def test_canonical_uri_as_the_reference_normaliser(uri: str, canonical: str) -> None:
    assert canonical_uri(uri) == canonical
    assert canonical_uri(canonical) == canonical


@pytest.mark.parametrize("uri", UNCHANGED)
def test_canonical_uri_leaves_what_it_cannot_normalise(uri: str) -> None:
    assert canonical_uri(uri) == uri


def test_places_in_every_accepted_form() -> None:
    assert parse_place("https://id.gs1.org/414/0614141008889", BASE) == Place(gln="0614141008889")
    assert parse_place("http://gs1.example.com/414/0614141008889", BASE) == Place(gln="0614141008889")
    assert parse_place("urn:epc:id:sgln:0614141.00888.0", BASE) == Place(gln="0614141008889")
    assert parse_place("urn:epc:id:sgln:012345678901..0", BASE) == Place(gln="0123456789012")
    assert parse_place(f"{BASE}facility/MTW", BASE) == Place(facility="MTW")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://id.gs1.org/414/0614141008889/254/12", "a location extension (AI 254) is not supported"),
        ("urn:epc:id:sgln:0614141.00888.12", "'12'"),
        ("urn:epc:id:sgln:4012345.00011.987", "AI 254"),
        ("https://id.gs1.org/414/0614141008888", "wrong check digit (expected 9)"),
        ("https://id.gs1.org/414/061414100888", "not a GLN"),
        ("urn:epc:id:sgln:0614141.0088.0", "12 digits"),
    ],
)
def test_places_refused_with_a_reason(uri: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_place(uri, BASE)
    assert message in str(refused.value)
    assert uri in str(refused.value)


@pytest.mark.parametrize(
    "uri",
    [
        "https://id.gs1.org/417/0614141008889",
        "https://id.gs1.org/01/04012345123456",
        f"{BASE}facility/",
        f"{BASE}facility/A/B",
        f"{BASE}org/MTW",
        "https://elsewhere.example/id/facility/MTW",
        "urn:epc:id:pgln:4012345.00225",
        "",
    ],
)
def test_unknown_places_are_none(uri: str) -> None:
    assert parse_place(uri, BASE) is None


def test_parties() -> None:
    assert parse_party("https://id.gs1.org/417/4012345002256", BASE) == Party(gln="4012345002256")
    assert parse_party("urn:epc:id:pgln:4012345.00225", BASE) == Party(gln="4012345002256")
    assert parse_party(f"{BASE}org/LYNAS", BASE) == Party(organization="LYNAS")
    assert parse_party(f"{BASE}facility/MTW", BASE) is None
    assert parse_party("https://id.gs1.org/414/0614141008889", BASE) is None
    with pytest.raises(ValueError, match="check digit"):
        parse_party("https://id.gs1.org/417/4012345002257", BASE)
    with pytest.raises(ValueError, match="12 digits"):
        parse_party("urn:epc:id:pgln:4012345.0022", BASE)


def test_round_trips_of_our_own_identifiers() -> None:
    assert parse_place(facility_uri("MTW", None, BASE), BASE) == Place(facility="MTW")
    assert parse_place(facility_uri("MTW", "9520000000011", BASE), BASE) == Place(gln="9520000000011")
    assert parse_party(organization_uri("LYNAS", None, BASE), BASE) == Party(organization="LYNAS")
    assert parse_party(organization_uri("LYNAS", "9520000001001", BASE), BASE) == Party(gln="9520000001001")
    assert parse_lot_class(lot_uri("LYNAS", "MTW-C1", BASE), BASE) == LotClass(organization="LYNAS", code="MTW-C1")


def test_lot_classes() -> None:
    lgtin = parse_lot_class("urn:epc:class:lgtin:4012345.012345.998877", BASE)
    assert lgtin == LotClass(gtin="04012345123456", lot="998877")
    assert canonical_uri("urn:epc:class:lgtin:4012345.012345.998877").endswith(f"/01/{lgtin.gtin}/10/{lgtin.lot}")
    assert parse_lot_class("urn:epc:class:lgtin:4012345.012345.A%2FB%25C", BASE).lot == "A/B%C"
    assert parse_lot_class("urn:epc:idpat:sgtin:4012345.044444.*", BASE) == LotClass(gtin="04012345444445")
    assert parse_lot_class("https://id.gs1.org/01/04012345123456/10/L%2F1", BASE) == LotClass(
        gtin="04012345123456", lot="L/1"
    )
    assert parse_lot_class("http://shop.example/01/04012345123456", BASE) == LotClass(gtin="04012345123456")


@pytest.mark.parametrize(
    "uri",
    [
        "https://id.gs1.org/01/04012345123457/10/L1",  # check digit
        "https://id.gs1.org/01/04012345123456/21/S1",  # an instance, not a class
        "urn:epc:class:lgtin:4012345.01234.998877",  # 12 digits
        "urn:epc:id:sgtin:4012345.012345.1",
        f"{BASE}lot/LYNAS",
        f"{BASE}lot/LYNAS/A/B",
        f"{BASE}facility/MTW",
        "urn:uuid:0d6f5c1e-6b1a-4c59-9a53-1f3e7f1a0003",
    ],
)
def test_unknown_lot_classes_say_nothing(uri: str) -> None:
    assert parse_lot_class(uri, BASE) == LotClass()
