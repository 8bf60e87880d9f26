"""The CBV 2.0 "EPCIS Event Hash ID" of an event: ``ni:///sha-256;{hex}?ver=CBV2.0`` (MAPPING.md section 5).

The pre-hash string is the one the reference implementation (PyPI ``epcis-event-hash-generator`` 1.9.3)
builds, reproduced here without JSON-LD: its vectors and GS1's examples give the same strings. It reads
the event as the XML data model would: ``…List`` keys hold elements named without the suffix, known
fields come first in the standard's order (each group sorted), and everything left over (ILMD,
source, destination and business transaction lists, extensions) follows as one sorted run of
``key=value`` strings, extension keys written ``{namespace IRI}local``. The ``eventID``,
``recordTime`` and ``errorDeclaration`` are left out, so an error declaration hashes like its event.

Where the reference is a heuristic this is narrower, and says so:
- bare CBV words are expanded in the fields the GS1 context types as a CBV vocabulary, not wherever the
  same word appears in the document;
- numbers are exact decimals written plainly (``1E+4``, ``10000`` and ``10000.0`` are ``10000``), where
  the reference goes through a binary float (and so writes ``1e-05`` or rounds past 16 digits).
"""

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeAlias

from service.epcis.identifiers import canonical_uri
from service.epcis.jsonio import plain

CBV = "https://ref.gs1.org/cbv/"
GS1_VOCABULARY = "https://gs1.org/voc/"
EXCLUDED = ("eventID", "recordTime", "errorDeclaration", "type")

_QUANTITY = (("quantityElement", (("epcClass", None), ("quantity", None), ("uom", None))),)
_EPCS = (("epc", None),)
_SENSOR_METADATA = [
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
]
_SENSOR_REPORT = [
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
]

Order: TypeAlias = tuple[tuple[str, "Order | None"], ...]

# The reference's order (MAPPING.md section 5 lists the standard's; the code puts certificationInfo
# after the offset and parentID before epcList, and its vectors follow the code). The business
# transaction, source and destination lists are absent on purpose: the reference never matches them
# here, so they are hashed with the leftovers, sorted among ILMD and the extensions.
ORDER: Order = (
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", _EPCS),
    ("inputEPCList", _EPCS),
    ("childEPCs", _EPCS),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", _EPCS),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", (("set", None), ("unset", None))),
    ("readPoint", (("id", None),)),
    ("bizLocation", (("id", None),)),
    (
        "sensorElementList",
        (
            (
                "sensorElement",
                (
                    ("sensorMetadata", tuple((name, None) for name in _SENSOR_METADATA)),
                    ("sensorReport", tuple((name, None) for name in _SENSOR_REPORT)),
                ),
            ),
        ),
    ),
)

_PAIRED_LISTS = ("bizTransactionList", "sourceList", "destinationList")
_PAIRED = ("bizTransaction", "source", "destination")
_OLD_CBV = (
    ("urn:epcglobal:cbv:bizstep:", f"{CBV}BizStep-"),
    ("urn:epcglobal:cbv:disp:", f"{CBV}Disp-"),
    ("urn:epcglobal:cbv:btt:", f"{CBV}BTT-"),
    ("urn:epcglobal:cbv:sdt:", f"{CBV}SDT-"),
    ("urn:epcglobal:cbv:er:", f"{CBV}ER-"),
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class _Node:
    """One element of the XML data model: a name, its text, its child elements (consumed as hashed)."""

    __slots__ = ("children", "name", "text")

    def __init__(self, name: str, text: str, children: list["_Node"]) -> None:
        self.name = name
        self.text = text
        self.children = children


def context_namespaces(context: Any) -> dict[str, str]:
    """Prefix -> IRI declared by a document's ``@context``: the string values of its objects; nothing is fetched.

    GS1's own context is not read, so its prefixes (``cbvmda:``, ``gs1:``) count only where the
    document declares them: the reference hashes an undeclared ``cbvmda:countryOfOrigin`` as written,
    and expanding it would change the hash of every event that carries it.
    """
    parts = context if isinstance(context, list) else [context]
    found: dict[str, str] = {}
    for part in parts:
        if isinstance(part, Mapping):
            found |= {
                key: value
                for key, value in part.items()
                if isinstance(key, str) and isinstance(value, str) and not key.startswith("@")
            }
    return found


def event_hash(event: Mapping[str, Any], namespaces: Mapping[str, str]) -> str:
    """The event's CBV 2.0 hash ID (RFC 6920 ``ni:`` URI of the SHA-256 of its pre-hash string)."""
    digest = hashlib.sha256(prehash(event, namespaces).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def prehash(event: Mapping[str, Any], namespaces: Mapping[str, str]) -> str:
    """The canonical string the hash is taken of. ``event`` as read by ``jsonio.loads``; it is not changed."""
    children = _corrected(_children(_expand_vocabulary(event), namespaces))
    ordered = _ordered(children, ORDER)
    rest = _generic([child for child in children if child.name not in EXCLUDED])
    return f"eventType={_text(event.get('type'), namespaces)}{ordered}{rest}"


def _expand_vocabulary(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with the bare CBV words of the vocabulary-typed fields written as their web URIs."""
    expanded = dict(event)
    for key, prefix in (("bizStep", f"{CBV}BizStep-"), ("disposition", f"{CBV}Disp-")):
        if key in expanded:
            expanded[key] = _words(expanded[key], prefix)
    persistent = expanded.get("persistentDisposition")
    if isinstance(persistent, Mapping):
        expanded["persistentDisposition"] = {
            key: _words(value, f"{CBV}Disp-") if key in ("set", "unset") else value for key, value in persistent.items()
        }
    for key, prefix in (
        ("bizTransactionList", f"{CBV}BTT-"),
        ("sourceList", f"{CBV}SDT-"),
        ("destinationList", f"{CBV}SDT-"),
    ):
        if isinstance(expanded.get(key), list):
            expanded[key] = [_typed(item, {"type": prefix}) for item in expanded[key]]
    elements = expanded.get("sensorElementList")
    if isinstance(elements, list):
        report_prefixes = {"type": GS1_VOCABULARY, "exception": GS1_VOCABULARY, "component": f"{CBV}Comp-"}
        expanded["sensorElementList"] = [
            {**element, "sensorReport": [_typed(report, report_prefixes) for report in element["sensorReport"]]}
            if isinstance(element, Mapping) and isinstance(element.get("sensorReport"), list)
            else element
            for element in elements
        ]
    return expanded


def _words(value: Any, prefix: str) -> Any:
    """A bare word (no colon) as ``prefix + word``, also in a list; anything else as it is."""
    if isinstance(value, list):
        return [_words(item, prefix) for item in value]
    return f"{prefix}{value}" if isinstance(value, str) and value and ":" not in value else value


def _typed(item: Any, prefixes: Mapping[str, str]) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {key: _words(value, prefixes[key]) if key in prefixes else value for key, value in item.items()}


def _key(key: str, namespaces: Mapping[str, str]) -> str:
    prefix, colon, local = key.partition(":")
    return f"{{{namespaces[prefix]}}}{local}" if colon and prefix in namespaces else key


def _text(value: Any, namespaces: Mapping[str, str]) -> str:
    """A JSON scalar as the reference's text: CURIE values expanded, numbers exact, ``true`` as ``True``."""
    if isinstance(value, str):
        prefix, colon, local = value.partition(":")
        return f"{namespaces[prefix]}{local}" if colon and prefix in namespaces else value
    if isinstance(value, Decimal):
        return _number(value)
    return str(value)


def _node(name: str, value: Any, namespaces: Mapping[str, str]) -> _Node:
    if isinstance(value, Mapping):
        text = _text(value["#text"], namespaces) if "#text" in value else ""
        return _Node(name, text, _children(value, namespaces))
    if isinstance(value, list):
        return _Node(name, "", [_node("", item, namespaces) for item in value])
    return _Node(name, _text(value, namespaces), [])


def _children(value: Mapping[str, Any], namespaces: Mapping[str, str]) -> list[_Node]:
    nodes: list[_Node] = []
    for key, item in value.items():
        if key in ("#text", "comment", "rdfs:comment") or key.startswith("@xmlns"):
            continue
        name = _key(key, namespaces)
        items = item if isinstance(item, list) else [item]
        nodes.extend(_node(name, element, namespaces) for element in items)
    return nodes


def _corrected(children: list[_Node]) -> list[_Node]:
    """The JSON shape as XML's: ``xList`` holds ``x`` elements, ``childEPCs`` holds ``epc``s, input quantities are
    ``quantityElement``s. A business transaction, source or destination becomes its first two fields, in order.
    """
    level = [child for child in children if not child.name.endswith("List") and child.name != "childEPCs"]
    lists: dict[str, list[_Node]] = {}
    for child in children:
        if child.name.endswith("List"):
            lists.setdefault(child.name, []).append(_Node(child.name[:-4], child.text, child.children))
    for name, elements in lists.items():
        if name in _PAIRED_LISTS:
            elements = [_Node("", "", element.children[:2]) for element in elements]
        level.append(_Node(name, "", elements))
    epcs = [_Node("epc", child.text, []) for child in children if child.name == "childEPCs"]
    if epcs:
        level.append(_Node("childEPCs", "", epcs))
    return [node if node.name in _PAIRED_LISTS else _deep_corrected(node) for node in level]


def _deep_corrected(node: _Node) -> _Node:
    children = _corrected(node.children)
    name = node.name
    if name in ("inputEPC", "outputEPC"):
        name = "epc"
    elif name in ("inputQuantity", "outputQuantity", "childQuantity") or (name == "quantity" and children):
        name = "quantityElement"
    return _Node(name, node.text, children)


def _ordered(children: list[_Node], order: Order) -> str:
    """The known fields in order, each group sorted; what is hashed here leaves ``children``."""
    inline = _inline_extensions(children)
    text = ""
    for name, inner_order in order:
        values: list[str] = []
        for child in [child for child in children if child.name == name]:
            value = _ordered_child(child, inner_order)
            if value:
                values.append(value)
            if not child.children:
                children.remove(child)
        text += "".join(sorted(values))
    return text + _generic(inline) if inline else text


def _inline_extensions(children: list[_Node]) -> list[_Node]:
    """Extensions inside a known field, hashed after its own fields: only under an IRI ending in ``/``, as the
    reference recognises them; others stay behind and the field is hashed again with the leftovers.
    """
    if len(children) <= 1 or any("eventTime" in child.name or "action" in child.name for child in children):
        return []
    inline = [child for child in children if "{" in child.name and "/}" in child.name]
    for child in inline:
        children.remove(child)
    return inline


def _ordered_child(child: _Node, order: Order | None) -> str:
    inner = _ordered(child.children, order) if order else ""
    text = child.text.strip()
    if text:
        lowered = child.name.lower()
        text = "=" + (_time(text) if "time" in lowered and "offset" not in lowered else _canonical_value(text))
    return f"{child.name}{text}{inner}" if text or inner else ""


def _generic(nodes: list[_Node]) -> str:
    """Leftovers: ``name=value`` then their children, every level sorted (a paired list's fields keep their order)."""
    parts = []
    for node in nodes:
        text = node.text.strip()
        parts.append(f"{node.name}{'=' + _canonical_value(text) if text else ''}{_generic(node.children)}")
    if len(parts) > 1 and not any(node.name in _PAIRED for node in nodes):
        parts.sort()
    return "".join(parts)


def _canonical_value(text: str) -> str:
    for old, new in _OLD_CBV:
        text = text.replace(old, new)
    if _NUMBER.fullmatch(text):
        return _number(Decimal(text))
    return canonical_uri(text)


def _number(value: Decimal) -> str:
    """Exact, without exponent, trailing zeros or a negative zero: ``1E+4`` -> ``10000``."""
    return "0" if value.is_zero() else format(plain(value), "f")


def _time(text: str) -> str:
    """UTC with milliseconds and ``Z``; a time without offset is taken as UTC; text that is no time, as it is."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    milliseconds = round(moment.microsecond, -3)
    moment = moment.replace(microsecond=0) + timedelta(microseconds=milliseconds)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
