"""Element prices as the API takes and gives them (RULES.md, "Prices and values")."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from service.schemas.common import TEXT_PATTERN, Contract, Currency, DecimalIn, DecimalOut

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def check_date_text(value: object) -> object:
    """Only ``YYYY-MM-DD``: no timestamps, no numbers of seconds."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError('must be a date written YYYY-MM-DD, such as "2026-01-01"')
    return value


Day = Annotated[date, BeforeValidator(check_date_text)]

PRICE_EXAMPLE: dict[str, Any] = {
    "element": "Dy",
    "currency": "USD",
    "price_per_kg": "250",
    "valid_from": "2026-06-01",
    "source": "Asian Metal, 2026-05-29 close",
}


class PriceCreate(Contract):
    element: str = Field(description="An element symbol such as `Dy` (not `REE`).", examples=["Dy"])
    currency: Currency = Field(description="An active ISO 4217 code.")
    price_per_kg: DecimalIn = Field(description="Positive: per kilogram of the element contained, not of its oxide.")
    valid_from: Day = Field(description="In effect from this date until the next price of the element and currency.")
    source: Annotated[str, StringConstraints(max_length=200, pattern=TEXT_PATTERN)] | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [PRICE_EXAMPLE]})


class PriceRead(BaseModel):
    element: str
    currency: str
    price_per_kg: DecimalOut
    valid_from: date
    source: str | None
    created_at: datetime = Field(description="When it was recorded.")
