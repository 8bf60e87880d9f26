"""The API contract (API.md): request and response bodies, separate from the tables."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import iso3166
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from stdnum import ean

from service.numbers import DECIMAL_PATTERN, parse_decimal
from service.origin import MATERIALS, NONE, RECYCLED, STAGES, UNKNOWN

CODE_PATTERN = r"^[A-Za-z0-9\-_.:]{1,64}$"
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # no control characters (a NUL cannot be stored)
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=TEXT_PATTERN)]
LotId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Stage = Literal["mining", "refining", "metal_making", "magnet_making", "manufacturing"]
Material = Literal["ore", "concentrate", "intermediate", "oxide", "metal", "alloy", "magnet", "component", "product"]
Unit = Literal["kg", "t", "g", "pcs"]
EventType = Literal["extraction", "receipt", "processing", "transfer"]
AnswerValue = Literal["yes", "no", "unknown"]
assert set(Material.__args__) == set(MATERIALS)  # type: ignore[attr-defined]
assert tuple(Stage.__args__) == STAGES  # type: ignore[attr-defined]


def is_code(value: str) -> bool:
    return re.fullmatch(CODE_PATTERN, value) is not None


def is_id(value: str) -> bool:
    return re.fullmatch(ID_PATTERN, value) is not None


def check_country(value: str) -> str:
    if value not in iso3166.countries_by_alpha2:
        raise ValueError('must be an ISO 3166-1 alpha-2 country code in upper case, such as "AU"')
    return value


def check_route_value(value: str) -> str:
    if value in (UNKNOWN, NONE, RECYCLED):
        return value
    return check_country(value)


def check_gtin(value: str) -> str:
    if len(value) not in (8, 12, 13, 14) or not value.isdigit() or not ean.is_valid(value):
        raise ValueError("must be a GTIN of 8, 12, 13 or 14 digits with a valid check digit")
    return value


def check_timestamp(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError('must be an RFC 3339 timestamp string such as "2025-06-01T00:00:00Z"')
    return value


def to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


Country = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(check_country)]
RouteValue = Annotated[str, AfterValidator(check_route_value)]
Gtin = Annotated[str, AfterValidator(check_gtin)]
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(check_timestamp),
    Field(description="RFC 3339 timestamp with an offset; stored and written in UTC."),
]
UtcTimestamp = Annotated[Timestamp, AfterValidator(to_utc)]
DecimalIn = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": DECIMAL_PATTERN}, {"type": "number"}],
            "description": "An exact decimal, preferably written as a string.",
            "examples": ["12.5"],
        }
    ),
]
DecimalOut = Annotated[str, Field(pattern=DECIMAL_PATTERN, examples=["12.5"])]


class Contract(BaseModel):
    """Request bodies refuse fields they do not know."""

    model_config = ConfigDict(extra="forbid")


# Organizations, facilities, SKUs -------------------------------------------------------------


class OrganizationCreate(Contract):
    code: Code
    name: Name
    country: Country

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "LYNAS", "name": "Lynas Rare Earths", "country": "AU"}]}
    )


class OrganizationRead(BaseModel):
    code: str
    name: str
    country: str
    created_at: datetime


class FacilityCreate(Contract):
    code: Code
    name: Name
    organization: Code
    country: Country
    stages: list[Stage] = Field(description="Stages performed here; empty for a warehouse.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "KUANTAN",
                    "name": "Lynas Malaysia",
                    "organization": "LYNAS",
                    "country": "MY",
                    "stages": ["refining"],
                }
            ]
        }
    )


class FacilityRead(BaseModel):
    code: str
    name: str
    organization: str
    country: str
    stages: list[Stage]
    created_at: datetime


class SkuCreate(Contract):
    sku: Code
    name: Name
    organization: Code
    gtin: Gtin | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": "EV-MOTOR-200",
                    "name": "EV traction motor 200 kW",
                    "organization": "ACME",
                    "gtin": "4006381333931",
                }
            ]
        }
    )


class SkuRead(BaseModel):
    sku: str
    name: str
    organization: str
    gtin: str | None
    created_at: datetime


# Events ---------------------------------------------------------------------------------------


class DeclaredRoute(Contract):
    route: dict[Stage, RouteValue] = Field(
        description="Stage -> country, `unknown`, `none`, or `recycled` (mining only). "
        "Stages left out take the defaults."
    )
    percent: DecimalIn


class InputCreate(Contract):
    lot: LotId | None = Field(None, description="The lot's id; or name it by `lot_code` and `organization`.")
    lot_code: Code | None = None
    organization: Code | None = None
    quantity: DecimalIn


class OutputCreate(Contract):
    code: Code
    material: Material | None = None
    quantity: DecimalIn | None = None
    unit: Unit | None = None
    composition: dict[str, DecimalIn] | None = Field(
        None, description="Kilograms of each element (or `REE`) in the whole lot."
    )
    sku: Code | None = None
    facility: Code | None = Field(None, description="Transfers only: the receiving facility.")
    declared_origin: list[DeclaredRoute] | None = Field(None, description="Receipts only.")


EVENT_EXAMPLE: dict[str, Any] = {
    "type": "processing",
    "facility": "KUANTAN",
    "stage": "refining",
    "occurred_at": "2025-06-01T00:00:00Z",
    "reference": "BATCH-2025-0601",
    "inputs": [{"lot_code": "KU-IN-1", "organization": "LYNAS", "quantity": "10000"}],
    "outputs": [
        {
            "code": "KU-NDPR-1",
            "material": "oxide",
            "quantity": "1200",
            "unit": "kg",
            "composition": {"Nd": "880", "Pr": "290"},
        }
    ],
}


class EventCreate(Contract):
    type: EventType
    facility: Code
    stage: Stage | None = None
    occurred_at: UtcTimestamp
    reference: Annotated[str, StringConstraints(max_length=200, pattern=TEXT_PATTERN)] | None = None
    inputs: list[InputCreate] = Field(default_factory=list, max_length=1000)
    outputs: list[OutputCreate] = Field(max_length=1000)

    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})


class EventBatchCreate(Contract):
    events: list[EventCreate] = Field(
        min_length=1,
        max_length=1000,
        description="Applied in order, all or nothing; later events may consume earlier lots.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"events": [EVENT_EXAMPLE]}]})


class RouteShare(BaseModel):
    route: dict[str, str] = Field(
        examples=[
            {"mining": "AU", "refining": "MY", "metal_making": "none", "magnet_making": "none", "manufacturing": "none"}
        ]
    )
    kg: DecimalOut
    percent: DecimalOut


class ElementOrigin(BaseModel):
    kg: DecimalOut
    routes: list[RouteShare]


class OriginRead(BaseModel):
    """Where the lot's rare earths came from, computed when the lot was recorded."""

    total_kg: DecimalOut = Field(description="Kilograms of rare-earth elements in the lot.")
    element_resolved: bool = Field(
        description="True when every element's origin is known separately; false after pooling `REE` material."
    )
    stages: dict[str, dict[str, DecimalOut]] = Field(description="For each stage, percent of the mass by value.")
    routes: list[RouteShare] = Field(description="Every route with positive kilograms, largest first.")
    elements: dict[str, ElementOrigin] | None = Field(None, exclude_if=lambda v: v is None)


class LotRead(BaseModel):
    """A lot: material at one facility, what is left of it, and where its rare earths came from."""

    id: str
    code: str
    organization: str
    facility: str
    material: str
    quantity: DecimalOut
    unit: str
    remaining: DecimalOut = Field(description="Quantity not yet consumed by later events; 0 once voided.")
    composition: dict[str, DecimalOut] = Field(description="Kilograms of each rare-earth element in the whole lot.")
    sku: str | None
    event: str
    status: Literal["active", "voided"]
    occurred_at: datetime
    recorded_at: datetime
    origin: OriginRead


class InputRead(BaseModel):
    lot: str
    code: str
    organization: str
    quantity: DecimalOut


class EventBatchRead(BaseModel):
    events: list["EventRead"]


class EventRead(BaseModel):
    id: str
    type: EventType
    facility: str
    stage: str | None
    occurred_at: datetime
    recorded_at: datetime
    reference: str | None
    status: Literal["recorded", "voided"]
    inputs: list[InputRead]
    outputs: list[LotRead]


# Answers --------------------------------------------------------------------------------------


class LotAnswer(BaseModel):
    id: str
    code: str
    organization: str
    answer: AnswerValue
    share_percent: DecimalOut
    unknown_percent: DecimalOut
    total_kg: DecimalOut


ASSESSMENT_EXAMPLE: dict[str, Any] = {
    "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
    "countries": ["CN"],
    "stages": ["mining", "refining", "metal_making", "magnet_making"],
    "threshold_percent": "0",
    "answer": "yes",
    "share_percent": "2.436961",
    "unknown_percent": "0",
    "total_kg": "1181.8",
    "stages_breakdown": {
        "mining": {"AU": "97.563039", "MM": "2.436961"},
        "refining": {"CN": "2.436961", "MY": "97.563039"},
        "metal_making": {"JP": "100"},
        "magnet_making": {"JP": "100"},
        "manufacturing": {"US": "100"},
    },
    "routes": [
        {
            "route": {
                "mining": "AU",
                "refining": "MY",
                "metal_making": "JP",
                "magnet_making": "JP",
                "manufacturing": "US",
            },
            "kg": "1153",
            "percent": "97.563039",
        },
        {
            "route": {
                "mining": "MM",
                "refining": "CN",
                "metal_making": "JP",
                "magnet_making": "JP",
                "manufacturing": "US",
            },
            "kg": "28.8",
            "percent": "2.436961",
        },
    ],
    "lots": [
        {
            "id": "0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77",
            "code": "TX-EVM-2501",
            "organization": "ACME",
            "answer": "yes",
            "share_percent": "2.436961",
            "unknown_percent": "0",
            "total_kg": "1181.8",
        }
    ],
    "lots_count": 1,
    "explanation": "SKU EV-MOTOR-200 answers yes because its one production lot answers yes for CN at any of these "
    "stages: mining, refining, metal making, magnet making; over all of them, 2.436961 % of 1181.8 kg of rare "
    "earths is shown to have gone there and 0 % is unknown.",
}


class AssessmentRead(BaseModel):
    """The answer to: do the rare earths of this lot or SKU touch these countries at these stages?"""

    subject: dict[str, str] = Field(description="What was asked about: a lot (id, code, organization) or a SKU.")
    countries: list[str] = Field(description="The countries asked about.")
    stages: list[str] = Field(description="The stages asked about.")
    threshold_percent: DecimalOut = Field(description="`yes` needs a share above this percent.")
    answer: AnswerValue = Field(
        description="`yes`: more than the threshold is shown to touch the countries; `unknown`: not shown, but what "
        "nobody has shown could cross it; `no`: it cannot. A SKU answers with its worst production lot."
    )
    share_percent: DecimalOut = Field(description="Percent of the rare-earth mass on routes touching the countries.")
    unknown_percent: DecimalOut = Field(
        description="Percent of the mass not touching them but with an asked stage nobody has shown (`unknown`)."
    )
    total_kg: DecimalOut = Field(description="Kilograms of rare-earth elements in the subject.")
    stages_breakdown: dict[str, dict[str, DecimalOut]] = Field(
        description="For each of the five stages, percent of the mass by country (or unknown, none, recycled)."
    )
    routes: list[RouteShare] = Field(description="Every route the mass took, largest first.")
    lots: list[LotAnswer] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="SKU only: production lots, `yes` first, then `unknown`, then `no`; at most `lots_limit`.",
    )
    lots_count: int | None = Field(
        None, exclude_if=lambda v: v is None, description="SKU only: how many production lots the answer covers."
    )
    explanation: str = Field(description="The answer in one plain sentence.")

    model_config = ConfigDict(json_schema_extra={"examples": [ASSESSMENT_EXAMPLE]})


class TraceNode(BaseModel):
    kind: Literal["lot", "event"]
    id: str
    depth: int = Field(description="Events between this node and the lot asked about.")
    code: str | None = None
    organization: str | None = None
    facility: str
    material: str | None = None
    quantity: DecimalOut | None = None
    unit: str | None = None
    type: str | None = None
    stage: str | None = None
    status: str
    occurred_at: datetime


class TraceEdge(BaseModel):
    source: str = Field(description="Id of the upstream node (a lot consumed, or the event that made a lot).")
    target: str = Field(description="Id of the downstream node.")
    quantity: DecimalOut | None = Field(None, description="Quantity of the lot consumed, on lot -> event edges.")


class TraceRead(BaseModel):
    lot: str
    direction: Literal["upstream", "downstream"]
    max_depth: int
    nodes: list[TraceNode]
    edges: list[TraceEdge]
    truncated: bool = Field(description="True when the walk stopped at max_depth with more beyond.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class Health(BaseModel):
    status: Literal["ok"]


class ProblemFieldError(BaseModel):
    field: str = Field(examples=["outputs.0.quantity"])
    message: str = Field(examples=["must be positive"])


class Problem(BaseModel):
    """An RFC 9457 problem: why a request was refused. Nothing was recorded."""

    type: str = Field(examples=["urn:lodestone:problem:invalid"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["outputs.0.quantity: must be positive"])
    errors: list[ProblemFieldError] | None = None
    request_id: str = Field(description="The request's id, also in the `X-Request-ID` header: quote it to support.")


# API keys and the audit trail -----------------------------------------------------------------

RoleName = Literal["admin", "recorder", "auditor", "viewer"]


class ApiKeyCreate(Contract):
    organization: Code
    role: RoleName
    name: Name

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"organization": "ACME", "role": "recorder", "name": "ACME ERP, Texas plant"}]}
    )


class ApiKeyRead(BaseModel):
    id: str
    organization: str
    role: RoleName
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret. Shown this once only; Lodestone keeps only a hash of it.")


class AuditEntryRead(BaseModel):
    seq: int
    at: datetime
    key_id: str | None = Field(description="The API key that wrote; null for the operator's admin key.")
    organization: str | None
    action: str = Field(examples=["event.recorded"])
    subject: str = Field(description="Id or code of what was written.")
    request_id: str
    body_hash: str = Field(description="SHA-256 of the request body as received.")
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    entries: int
    head: str = Field(description="Hash of the last entry; the all-zero hash for an empty trail.")
    first_bad: int | None = Field(description="Sequence number of the first entry whose hash does not hold.")
