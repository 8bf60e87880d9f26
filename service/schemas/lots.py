"""Lots and their origin as the API gives them, and traces through the supply chain."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.schemas.common import DecimalOut


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


class ValueRead(BaseModel):
    """What the whole lot is worth, as given when it was recorded or inherited pro rata by a transfer."""

    amount: DecimalOut = Field(description="Exact, written to at most 12 decimals (half-even).")
    currency: str = Field(examples=["USD"])


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
    value: ValueRead | None = Field(description="The whole lot's value, or null when none was given or inherited.")


class TraceNode(BaseModel):
    """A lot, an event, or (kind `organization`) what came from or went to another organization, redacted.

    Another organization's lots and events are never named: where the walk enters another
    organization it shows one `organization` node per organization and hop, with a synthetic id
    (`org:<code>:<depth>`), the material and quantity that crossed, and stops there. Upstream, the
    node also carries the aggregated origin of what came from there, as stored in the caller's lots.
    """

    kind: Literal["lot", "event", "organization"]
    id: str
    depth: int = Field(description="Events between this node and the lot asked about.")
    code: str | None = None
    organization: str | None = None
    facility: str | None = Field(description="Null on `organization` nodes.")
    material: str | None = None
    quantity: DecimalOut | None = None
    unit: str | None = None
    type: str | None = None
    stage: str | None = None
    status: str | None = Field(description="Null on `organization` nodes.")
    occurred_at: datetime | None = Field(description="Null on `organization` nodes.")
    origin: OriginRead | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="`organization` nodes upstream: the origin of what came from there, when it can be told apart.",
    )


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
