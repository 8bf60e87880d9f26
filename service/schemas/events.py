"""Events as the API takes and gives them (ORIGIN.md says which fields each type takes)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.schemas.common import (
    TEXT_PATTERN,
    Code,
    Contract,
    Currency,
    DecimalIn,
    DecimalOut,
    EventType,
    LotId,
    Material,
    RouteValue,
    Stage,
    Unit,
    UtcTimestamp,
)
from service.schemas.lots import LotRead


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


class ValueCreate(Contract):
    amount: DecimalIn = Field(description="Positive: what the whole lot is worth.")
    currency: Currency = Field(description="An active ISO 4217 code.")


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
    value: ValueCreate | None = Field(
        None,
        description="The whole lot's value. Left out on a transfer, the input's value pro rata to the quantity moved.",
    )


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


class InputRead(BaseModel):
    lot: str
    code: str
    organization: str
    quantity: DecimalOut


class RedactedInput(BaseModel):
    """Another organization's lot consumed by an event the caller sees: who held it, how much; never its id or code."""

    organization: str
    quantity: DecimalOut


class RedactedLot(BaseModel):
    """A lot made for another organization by an event the caller sees: never its id or code."""

    organization: str
    material: str
    quantity: DecimalOut
    unit: str


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
    inputs: list[InputRead] = Field(description="The inputs the caller may see.")
    outputs: list[LotRead] = Field(description="The lots made that the caller may see.")
    inputs_redacted: list[RedactedInput] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Inputs held by another organization (the sender's lots, on a transfer delivered to the caller).",
    )
    outputs_redacted: list[RedactedLot] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Lots made for another organization (a transfer delivered to it).",
    )
