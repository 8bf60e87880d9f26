"""EPCIS identifiers of Lodestone's facilities, organizations and lots (MAPPING.md 1.2), and reading them back.

Export writes a GLN as a GS1 Digital Link on GS1's own domain (``https://id.gs1.org/414/{gln}``);
whatever has no GLN gets a URI under ``LODESTONE_EPCIS_ID_BASE``, which must never change.
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote

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


@dataclass(frozen=True)
class Place:
    """A location read from an EPCIS URI: a GLN, or the code of a facility without one (exactly one is set)."""

    gln: str | None = None
    facility: str | None = None


@dataclass(frozen=True)
class Party:
    """A party read from an EPCIS URI: a party GLN, or the code of an organization without one (exactly one is set)."""

    gln: str | None = None
    organization: str | None = None


@dataclass(frozen=True)
class LotClass:
    """What an ``epcClass`` says about a lot: a GTIN and maybe its AI 10 lot, or one of our own lot URIs."""

    gtin: str | None = None
    lot: str | None = None
    organization: str | None = None
    code: str | None = None


def parse_place(uri: str, base: str) -> Place | None:
    """The facility an EPCIS location URI names, or None for a URI of no form we read.

    A recognised form with a wrong GLN, or with a location extension (AI 254: a place *inside* a
    location, which Lodestone cannot hold), raises ``ValueError`` with a message for the sender.
    """
    if (found := re.fullmatch(r"https?://[^/?#]+/414/([^/?#]+)(/254/[^?#]*)?", uri)) is not None:
        if found[2]:
            raise ValueError(f"{uri}: a location extension (AI 254) is not supported")
        return Place(gln=_checked_gln(found[1], uri))
    if uri.startswith("urn:epc:id:sgln:"):
        gln, extension = _epc_gln(uri, "sgln", with_extension=True)
        if extension != "0":
            raise ValueError(
                f"{uri}: the extension {extension!r} names a location extension (AI 254), which is not supported"
            )
        return Place(gln=gln)
    code = _own_code(uri, f"{base}facility/")
    return None if code is None else Place(facility=code)


def parse_party(uri: str, base: str) -> Party | None:
    """The organization an EPCIS party URI names (``…/417/{gln}``, a PGLN URN, ``{base}org/{code}``), else None.

    A party has no extension, so only a wrong GLN raises ``ValueError``.
    """
    if (found := re.fullmatch(r"https?://[^/?#]+/417/([^/?#]+)", uri)) is not None:
        return Party(gln=_checked_gln(found[1], uri))
    if uri.startswith("urn:epc:id:pgln:"):
        return Party(gln=_epc_gln(uri, "pgln", with_extension=False)[0])
    code = _own_code(uri, f"{base}org/")
    return None if code is None else Party(organization=code)


def parse_lot_class(uri: str, base: str) -> LotClass:
    """The GTIN and lot of an LGTIN URN, a Digital Link or an SGTIN pattern, or our own lot URI's pair.

    Never raises: anything else, a wrong check digit included, is ``LotClass()``, for which the caller
    says what it could not derive.
    """
    if (found := re.fullmatch(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)", uri)) is not None:
        gtin = _epc_gtin(found[1], found[2])
        return LotClass() if gtin is None else LotClass(gtin=gtin, lot=unquote(found[3]))
    if (found := re.fullmatch(r"urn:epc:idpat:sgtin:(\d+)\.(\d+)\.\*", uri)) is not None:
        gtin = _epc_gtin(found[1], found[2])
        return LotClass() if gtin is None else LotClass(gtin=gtin)
    if (found := re.fullmatch(r"https?://[^/?#]+/01/(\d{14})(?:/10/([^/?#]+))?", uri)) is not None:
        if not ean.is_valid(found[1]):
            return LotClass()
        return LotClass(gtin=found[1], lot=None if found[2] is None else unquote(found[2]))
    if uri.startswith(f"{base}lot/"):
        organization, _, code = uri.removeprefix(f"{base}lot/").partition("/")
        if _is_segment(organization) and _is_segment(code):
            return LotClass(organization=organization, code=code)
    return LotClass()


def canonical_uri(uri: str) -> str:
    """The canonical GS1 Digital Link (``https://id.gs1.org/…``) the CBV 2.0 event hash uses for a GS1 key.

    EPC URNs are converted, a Digital Link on any host is moved to id.gs1.org at its finest level of
    identification (no CPV, no lot beside a serial, no query), as the reference ``dl_normaliser`` does;
    anything else, a Digital Link the reference would not accept included, comes back unchanged.
    Check digits are computed, never checked: the hash must not refuse what capture has validated.
    """
    if uri.startswith("urn:epc:"):
        return _urn_to_digital_link(uri) or uri
    if uri.startswith(("http://", "https://")):
        return _normalised_digital_link(uri) or uri
    return uri


def _checked_gln(value: str, uri: str) -> str:
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        raise ValueError(f"{uri}: {value!r} is not a GLN (13 digits)")
    if not ean.is_valid(value):
        expected = ean.calc_check_digit(value[:-1])
        raise ValueError(f"{uri}: GLN {value} has a wrong check digit (expected {expected})")
    return value


def _epc_gln(uri: str, scheme: str, with_extension: bool) -> tuple[str, str]:
    """The GLN (company prefix + reference + check digit) of an SGLN or PGLN URN, and the SGLN's extension."""
    pattern = rf"urn:epc:id:{scheme}:(\d+)\.(\d*)" + (r"\.(.+)" if with_extension else "")
    found = re.fullmatch(pattern, uri)
    if found is None or not 6 <= len(found[1]) <= 12 or len(found[1] + found[2]) != 12:
        raise ValueError(f"{uri}: not an {scheme.upper()} (company prefix and reference must have 12 digits together)")
    digits = found[1] + found[2]
    return digits + ean.calc_check_digit(digits), found[3] if with_extension else ""


def _epc_gtin(company: str, item: str) -> str | None:
    """The GTIN-14 of an EPC company prefix and indicator-plus-item reference: indicator, prefix, item, check digit."""
    if not 6 <= len(company) <= 12 or len(company + item) != 13:
        return None
    digits = item[0] + company + item[1:]
    return digits + ean.calc_check_digit(digits)


def _own_code(uri: str, prefix: str) -> str | None:
    code = uri.removeprefix(prefix)
    return code if uri.startswith(prefix) and _is_segment(code) else None


def _is_segment(value: str) -> bool:
    return bool(value) and not any(character in value for character in "/?#")


# The character classes of the EPC Tag Data Standard's URNs (GS1 CSET 82, %-escaped where a URN needs it),
# and the characters the reference normaliser lets through in a Digital Link (no '%', so an escaped
# Digital Link keeps its own spelling in the hash).
_URN_CHAR = (
    r"(?:%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]|[!'()*+,.0-9:;=A-Za-z_-])"
)
_DL_CHAR = r"[\"'\-.0-9;-?A-Z_a-z]"


def _web_escaped(value: str) -> str:
    """A URN's value as a Digital Link path segment: the characters the Digital Link standard reserves, escaped."""
    for character in "!()*+,:":
        value = value.replace(character, f"%{ord(character):02X}")
    return value


def _with_check_digit(digits: str) -> str:
    return digits + ean.calc_check_digit(digits)


def _split(company: str, reference: str, total: int) -> str | None:
    """Company prefix and reference joined, when the prefix has 6 to 12 digits and the two ``total`` together."""
    return company + reference if 6 <= len(company) <= 12 and len(company + reference) == total else None


def _urn_to_digital_link(uri: str) -> str | None:
    scheme, _, rest = uri.removeprefix("urn:epc:").partition(":")
    convert = _URN_PATHS.get(scheme)
    path = None if convert is None else convert(rest)
    return None if path is None else f"{DIGITAL_LINK}/{path}"


def _sgtin(rest: str, pattern: str, qualifier: str) -> str | None:
    found = re.fullmatch(rf"(\d+)\.(\d+){pattern}", rest)
    if found is None or _split(found[1], found[2], 13) is None:
        return None
    gtin = _with_check_digit(found[2][0] + found[1] + found[2][1:])
    return f"01/{gtin}" + (f"/{qualifier}/{_web_escaped(found[3])}" if qualifier else "")


def _id_path(rest: str) -> str | None:
    """The Digital Link path of an instance EPC (``urn:epc:id:…``)."""
    scheme, _, rest = rest.partition(":")
    if scheme == "sgtin":
        return _sgtin(rest, rf"\.({_URN_CHAR}{{1,20}})", "21")
    if scheme == "sscc" and (found := re.fullmatch(r"(\d+)\.(\d+)", rest)) and _split(found[1], found[2], 17):
        return f"00/{_with_check_digit(found[2][0] + found[1] + found[2][1:])}"
    if scheme == "sgln" and (found := re.fullmatch(rf"(\d+)\.(\d*)\.({_URN_CHAR}{{1,20}})", rest)):
        digits = _split(found[1], found[2], 12)
        extension = "" if found[3] == "0" else f"/254/{_web_escaped(found[3])}"
        return None if digits is None else f"414/{_with_check_digit(digits)}{extension}"
    if (
        scheme == "pgln"
        and (found := re.fullmatch(r"(\d+)\.(\d*)", rest))
        and (digits := _split(found[1], found[2], 12))
    ):
        return f"417/{_with_check_digit(digits)}"
    if scheme == "grai" and (found := re.fullmatch(rf"(\d+)\.(\d*)\.({_URN_CHAR}{{1,16}})", rest)):
        digits = _split(found[1], found[2], 12)
        return None if digits is None else f"8003/{_with_check_digit('0' + digits)}{_web_escaped(found[3])}"
    if scheme == "giai" and (found := re.fullmatch(rf"(\d+)\.({_URN_CHAR}+)", rest)):
        valid = 6 <= len(found[1]) <= 12 and len(found[1]) + len(re.findall(_URN_CHAR, found[2])) <= 30
        return f"8004/{found[1]}{_web_escaped(found[2])}" if valid else None
    if scheme in ("gsrn", "gsrnp") and (found := re.fullmatch(r"(\d+)\.(\d+)", rest)):
        digits = _split(found[1], found[2], 17)
        return None if digits is None else f"{'8018' if scheme == 'gsrn' else '8017'}/{_with_check_digit(digits)}"
    if scheme == "gdti" and (found := re.fullmatch(rf"(\d+)\.(\d*)\.({_URN_CHAR}{{0,19}})", rest)):
        digits = _split(found[1], found[2], 12)
        return None if digits is None else f"253/{_with_check_digit(digits)}{_web_escaped(found[3])}"
    if scheme == "sgcn" and (found := re.fullmatch(r"(\d+)\.(\d*)\.(\d{1,12})", rest)):
        digits = _split(found[1], found[2], 12)
        return None if digits is None else f"255/{_with_check_digit(digits)}{found[3]}"
    if (
        scheme == "gsin"
        and (found := re.fullmatch(r"(\d+)\.(\d+)", rest))
        and (digits := _split(found[1], found[2], 16))
    ):
        return f"402/{_with_check_digit(digits)}"
    return None


def _class_path(rest: str) -> str | None:
    scheme, _, rest = rest.partition(":")
    return _sgtin(rest, rf"\.({_URN_CHAR}{{1,20}})", "10") if scheme == "lgtin" else None


def _pattern_path(rest: str) -> str | None:
    """An EPC pattern naming every serial of one key: the key alone."""
    scheme, _, rest = rest.partition(":")
    if scheme == "sgtin":
        return _sgtin(rest, r"\.\*", "")
    if scheme in ("grai", "gdti") and (found := re.fullmatch(r"(\d+)\.(\d*)\.\*", rest)):
        digits = _split(found[1], found[2], 12)
        if digits is None:
            return None
        return f"8003/{_with_check_digit('0' + digits)}" if scheme == "grai" else f"253/{_with_check_digit(digits)}"
    return None


_URN_PATHS = {"id": _id_path, "class": _class_path, "idpat": _pattern_path}


_SHORT_NAMES = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417", "gsrnp": "8017", "gsrn": "8018",
    "gcn": "255", "sscc": "00", "gdti": "253", "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004",
    "cpv": "22", "lot": "10", "ser": "21",
}  # fmt: skip
# The primary keys' canonical shapes after ``https://id.gs1.org/``, the only ones the hash rewrites.
_CANONICAL = re.compile(
    "|".join(
        (
            r"00/\d{18}",
            rf"01/\d{{14}}(?:/(?:21|10)/{_DL_CHAR}{{0,20}}|/235/{_DL_CHAR}{{0,28}})?",
            rf"253/\d{{13}}{_DL_CHAR}{{0,17}}",
            r"255/\d{13}\d{0,12}",
            rf"401/{_DL_CHAR}{{0,30}}",
            r"402/\d{17}",
            rf"414/\d{{13}}(?:/254/{_DL_CHAR}{{0,20}})?",
            r"417/\d{13}",
            rf"8003/\d{{14}}{_DL_CHAR}{{0,16}}",
            rf"8004/{_DL_CHAR}{{0,30}}",
            rf"8006/\d{{18}}(?:/(?:21|10)/{_DL_CHAR}{{0,20}})?",
            r"8010/[#\-/0-9A-Z]{0,30}(?:/8011/\d{0,12})?",
            r"8017/\d{18}",
            r"8018/\d{18}",
        )
    )
)
_PRIMARY = {"00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018"}


def _normalised_digital_link(uri: str) -> str | None:
    """A Digital Link on any host, under any path prefix, as its canonical form on id.gs1.org; else None."""
    found = re.fullmatch(r"https?://[^/?#]*(/[^?#]*)(?:\?[^#]*)?(?:#.*)?", uri)
    if found is None:
        return None
    segments = [_SHORT_NAMES.get(segment, segment) for segment in found[1].split("/")[1:]]
    start = next(
        (
            at
            for at, segment in enumerate(segments[:-1])
            if segment in _PRIMARY and re.match(r"\d{4}[^/]", segments[at + 1])
        ),
        None,
    )
    if start is None:
        return None
    key, value, *qualifiers = segments[start:]
    if key == "01" and value.isdigit() and len(value) in (8, 12, 13):
        value = value.zfill(14)
    if len(qualifiers) % 2:
        return None
    pairs = list(zip(qualifiers[::2], qualifiers[1::2], strict=True))
    if key in ("01", "8006") and pairs[:1] and pairs[0][0] == "22":
        pairs = pairs[1:]  # a consumer product variant is no part of the identity
    if key in ("01", "8006") and [ai for ai, _ in pairs] == ["10", "21"]:
        pairs = pairs[1:]  # the finest level only: a serial makes the lot redundant
    path = "/".join([key, value, *(part for pair in pairs for part in pair)])
    return f"{DIGITAL_LINK}/{path}" if _CANONICAL.fullmatch(path) else None
