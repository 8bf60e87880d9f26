"""The answer to the question, for a lot or a SKU (API.md, Assessment)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import AnswerValue, DecimalOut
from service.schemas.lots import RouteShare

HIDDEN_LOT = (
    " Null where the caller may not see the lot (another organization's, to a key that is neither admin nor "
    "auditor): the lot is listed by its organization and its answer only. Nullable since issue 12, an additive change."
)


class LotAnswer(BaseModel):
    id: str | None = Field(description="The lot's id." + HIDDEN_LOT)
    code: str | None = Field(description="The lot's code." + HIDDEN_LOT)
    organization: str = Field(description="The organization that holds the lot (always shown).")
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
    "as_of": "2026-12-01T09:30:00Z",
}


class ElementBreakdown(BaseModel):
    kg: DecimalOut = Field(
        description="Kilograms of this element (or of `REE`, rare earths nobody named) in the subject."
    )
    share_percent: DecimalOut = Field(description="Percent of this element's mass on routes touching the countries.")
    unknown_percent: DecimalOut = Field(description="Percent of it not touching them but with an asked stage unknown.")


class AssessmentRead(BaseModel):
    """The answer to: do the rare earths of this lot or SKU touch these countries at these stages?"""

    subject: dict[str, str] = Field(description="What was asked about: a lot (id, code, organization) or a SKU.")
    countries: list[str] = Field(description="The countries asked about.")
    stages: list[str] = Field(description="The stages asked about.")
    threshold_percent: DecimalOut = Field(description="`yes` needs a share above this percent.")
    elements: list[str] | None = Field(
        description="The elements asked about (only they can count as touching; `REE` where they might counts as "
        "unknown); null: every rare earth."
    )
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
    elements_breakdown: dict[str, ElementBreakdown] = Field(
        description="For each element present (`REE` included), its kilograms and its own shares, answered for "
        "every rare earth whatever `elements` asks."
    )
    lots: list[LotAnswer] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="SKU only: production lots, `yes` first, then `unknown`, then `no`; at most `lots_limit`.",
    )
    lots_count: int | None = Field(
        None, exclude_if=lambda v: v is None, description="SKU only: how many production lots the answer covers."
    )
    explanation: str = Field(description="The answer in one plain sentence.")
    as_of: datetime = Field(
        description="The moment the answer is given as of: only what the service had recorded by then counts "
        "(`as_of` if asked, else when it was answered)."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [ASSESSMENT_EXAMPLE]})
