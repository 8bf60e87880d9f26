"""Shared pieces of the API contract: codes, countries, decimals, timestamps, pages and problems."""

import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

import iso3166
import pycountry
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
# RFC 3339 section 5.6 date-time, with seconds and an offset. The upper-case "T" and "Z" only: the
# lower-case letters and the space that section 5.6's note allows are refused, so a timestamp has one spelling.
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
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


def check_currency(value: str) -> str:
    # pycountry's lookup ignores case; the contract's codes are upper case.
    if not (len(value) == 3 and value.isascii() and value.isupper()) or pycountry.currencies.get(alpha_3=value) is None:
        raise ValueError('must be an active ISO 4217 currency code in upper case, such as "USD"')
    return value


def check_route_value(value: str) -> str:
    if value in (UNKNOWN, NONE, RECYCLED):
        return value
    return check_country(value)


def check_gtin(value: str) -> str:
    if len(value) not in (8, 12, 13, 14) or not value.isdigit() or not ean.is_valid(value):
        raise ValueError("must be a GTIN of 8, 12, 13 or 14 digits with a valid check digit")
    return value


def check_gln(value: str) -> str:
    if len(value) != 13 or not value.isascii() or not value.isdigit() or not ean.is_valid(value):
        raise ValueError("must be a GLN: 13 digits with a valid GS1 check digit")
    return value


def check_timestamp(value: object) -> object:
    """An RFC 3339 string (or a ``datetime`` built in Python): never epoch seconds, a bare date, no offset."""
    if isinstance(value, datetime) or (isinstance(value, str) and _TIMESTAMP_RE.fullmatch(value)):
        return value
    raise ValueError('must be an RFC 3339 timestamp such as "2025-06-01T00:00:00Z" (seconds and an offset included)')


def check_visible(value: str) -> str:
    """Names and titles are shown to people: no bidirectional overrides or isolates, no invisible characters.

    Unicode's format characters (category Cf) include both: U+202A-U+202E and U+2066-U+2069 reorder what
    follows (a name can display as something else), U+200B-U+200F, U+2060 and U+FEFF are invisible (two
    names that look the same differ).
    """
    for char in value:
        if unicodedata.category(char) == "Cf":
            raise ValueError(f"must not contain invisible or bidirectional format characters such as U+{ord(char):04X}")
    return value


def to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=TEXT_PATTERN),
    AfterValidator(check_visible),
]
Country = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(check_country)]
RouteValue = Annotated[str, AfterValidator(check_route_value)]
Currency = Annotated[str, AfterValidator(check_currency), Field(examples=["USD"])]
Gtin = Annotated[str, AfterValidator(check_gtin)]
Gln = Annotated[
    str,
    AfterValidator(check_gln),
    Field(
        description="GS1 Global Location Number (13 digits): the identifier EPCIS documents use; unique.",
        examples=["0614141008889"],
    ),
]
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
