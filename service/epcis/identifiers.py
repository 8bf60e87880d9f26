"""EPCIS identifiers of Lodestone's facilities, organizations and lots (MAPPING.md 1.2), and reading them back.

Export writes a GLN as a GS1 Digital Link on GS1's own domain (``https://id.gs1.org/414/{gln}``);
whatever has no GLN gets a URI under ``LODESTONE_EPCIS_ID_BASE``, which must never change.
"""

from stdnum import ean

DIGITAL_LINK = "https://id.gs1.org"


def gln_is_valid(value: str) -> bool:
    """A Global Location Number: 13 digits whose last is the GS1 mod-10 check digit of the others."""
    return len(value) == 13 and value.isascii() and value.isdigit() and ean.is_valid(value)


def facility_uri(code: str, gln: str | None, base: str) -> str:
    return f"{DIGITAL_LINK}/414/{gln}" if gln else f"{base}facility/{code}"


def organization_uri(code: str, gln: str | None, base: str) -> str:
    return f"{DIGITAL_LINK}/417/{gln}" if gln else f"{base}org/{code}"


def lot_uri(organization: str, code: str, base: str) -> str:
    """A lot without a captured EPC class: the pair is unique, and every code character is legal in a URI path."""
    return f"{base}lot/{organization}/{code}"
