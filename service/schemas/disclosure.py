"""The auditor's pages for a SKU: the s.857 disclosure and the flows of its rare earths."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.answers import HIDDEN_LOT
from service.schemas.common import DecimalOut

StagePercents = dict[str, dict[str, DecimalOut]]
_STAGES_DESCRIPTION = (
    "For each s.857 stage (`mining`, `refining`: into oxides, `metal_making`: metals and alloys, "
    "`magnet_making`), percent of the rare-earth mass by country; `unknown` where nobody has shown where the "
    "stage took place, `none` where the material did not go through it, `recycled` for mining from scrap."
)

DISCLOSURE_EXAMPLE: dict[str, Any] = {
    "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
    "as_of": "2026-12-01T09:30:00Z",
    "total_kg": "1181.8",
    "lots_count": 1,
    "stages": {
        "mining": {"AU": "97.563039", "MM": "2.436961"},
        "refining": {"CN": "2.436961", "MY": "97.563039"},
        "metal_making": {"JP": "100"},
        "magnet_making": {"JP": "100"},
    },
    "lots": [
        {
            "id": "0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77",
            "code": "TX-EVM-2501",
            "organization": "ACME",
            "total_kg": "1181.8",
            "stages": {
                "mining": {"AU": "97.563039", "MM": "2.436961"},
                "refining": {"CN": "2.436961", "MY": "97.563039"},
                "metal_making": {"JP": "100"},
                "magnet_making": {"JP": "100"},
            },
        }
    ],
}

DISCLOSURE_CSV_EXAMPLE = """\
scope,lot_id,lot_code,organization,stage,country,percent
sku,,,,mining,AU,97.563039
sku,,,,mining,MM,2.436961
sku,,,,refining,CN,2.436961
sku,,,,refining,MY,97.563039
sku,,,,metal_making,JP,100
sku,,,,magnet_making,JP,100
lot,0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77,TX-EVM-2501,ACME,mining,AU,97.563039
lot,0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77,TX-EVM-2501,ACME,mining,MM,2.436961
"""


class DisclosureLot(BaseModel):
    id: str | None = Field(description="The lot's id." + HIDDEN_LOT)
    code: str | None = Field(description="The lot's code." + HIDDEN_LOT)
    organization: str = Field(description="The organization that holds the lot (always shown).")
    total_kg: DecimalOut = Field(description="Kilograms of rare-earth elements in the lot.")
    stages: StagePercents = Field(description=_STAGES_DESCRIPTION)


class DisclosureRead(BaseModel):
    """US FY2023 NDAA s.857: where a SKU's rare earths were mined, refined, made into metal and into magnets."""

    subject: dict[str, str] = Field(description="The SKU disclosed: `{kind: sku, sku}`.")
    as_of: datetime = Field(description="What the service knew at this moment (UTC) is what is disclosed.")
    total_kg: DecimalOut = Field(description="Kilograms of rare-earth elements over all production lots.")
    lots_count: int = Field(description="How many production lots the disclosure covers.")
    stages: StagePercents = Field(description=f"Over all production lots, mass-weighted. {_STAGES_DESCRIPTION}")
    lots: list[DisclosureLot] = Field(description="Each production lot's own disclosure, in recording order.")
    attestation: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="The id of the attestation that signed this disclosure, when one was asked for.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [DISCLOSURE_EXAMPLE]})


class FlowNodeRead(BaseModel):
    id: str = Field(description="`stage:value`, such as `mining:AU`.", examples=["mining:AU"])
    stage: str
    country: str = Field(description="An ISO 3166-1 alpha-2 code, or `unknown`, `none`, `recycled`.")
    kg: DecimalOut = Field(description="Rare-earth kilograms whose route has this value at this stage.")
    percent: DecimalOut = Field(description="Those kilograms as a percent of `total_kg`.")


class FlowLinkRead(BaseModel):
    source: str = Field(description="A node at one stage.", examples=["mining:AU"])
    target: str = Field(description="A node at the next stage.", examples=["refining:MY"])
    kg: DecimalOut = Field(description="Rare-earth kilograms that went from the source to the target.")
    percent: DecimalOut = Field(description="Those kilograms as a percent of `total_kg`.")


FLOWS_EXAMPLE: dict[str, Any] = {
    "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
    "as_of": "2026-12-01T09:30:00Z",
    "total_kg": "1181.8",
    "lots_count": 1,
    "stages": ["mining", "refining", "metal_making", "magnet_making", "manufacturing"],
    "nodes": [
        {"id": "mining:AU", "stage": "mining", "country": "AU", "kg": "1153", "percent": "97.563039"},
        {"id": "mining:MM", "stage": "mining", "country": "MM", "kg": "28.8", "percent": "2.436961"},
        {"id": "refining:MY", "stage": "refining", "country": "MY", "kg": "1153", "percent": "97.563039"},
        {"id": "refining:CN", "stage": "refining", "country": "CN", "kg": "28.8", "percent": "2.436961"},
    ],
    "links": [
        {"source": "mining:AU", "target": "refining:MY", "kg": "1153", "percent": "97.563039"},
        {"source": "mining:MM", "target": "refining:CN", "kg": "28.8", "percent": "2.436961"},
    ],
}


class FlowsRead(BaseModel):
    """A SKU's rare earths as a Sankey diagram's data: how many kilograms went from each stage's country to the
    next stage's, summed exactly over its production lots."""

    subject: dict[str, str] = Field(description="The SKU: `{kind: sku, sku}`.")
    as_of: datetime = Field(description="What the service knew at this moment (UTC) is what is drawn.")
    total_kg: DecimalOut = Field(description="Kilograms of rare-earth elements; each stage's nodes sum to it.")
    lots_count: int = Field(description="How many production lots the flows cover.")
    stages: list[str] = Field(description="The columns, in order.")
    nodes: list[FlowNodeRead] = Field(
        description="Each stage's values, in stage order, largest first. A node's kilograms are the sum of its "
        "incoming links (but at mining) and of its outgoing links (but at manufacturing)."
    )
    links: list[FlowLinkRead] = Field(description="Between consecutive stages, largest first from each node.")

    model_config = ConfigDict(json_schema_extra={"examples": [FLOWS_EXAMPLE]})
