"""Catalogue lists: every SKU with its short answer, for a portal's table (API.md, "Catalogue answers")."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import AnswerValue, DecimalOut

ANSWER_PATH = "The path of the SKU's full answer to the same question (its lots, reasons and explanation)."


class RuleSummary(BaseModel):
    """One rule's answer for a SKU on the date, as `GET /v1/skus/{sku}/compliance` gives it, without its lots."""

    rule: str
    title: str
    version: str = Field(description="The rule's version whose window covers the date.")
    in_force: bool = Field(description="Whether that version binds anyone on the date.")
    answer: AnswerValue
    share_percent: DecimalOut | None = Field(description="Null when a value or price is missing.")
    unknown_percent: DecimalOut | None
    lots_count: int = Field(description="How many lots the rule judged.")


class ComplianceSummary(BaseModel):
    """What is remembered of a SKU's rules' answer."""

    results: list[RuleSummary]


class OriginSummary(BaseModel):
    """What is remembered of a SKU's answer to the plain question."""

    answer: AnswerValue
    share_percent: DecimalOut
    unknown_percent: DecimalOut
    total_kg: DecimalOut
    lots_count: int = Field(description="How many production lots the answer covers.")


class SkuComplianceItem(BaseModel):
    sku: str
    name: str
    organization: str = Field(description="The organization that owns the SKU.")
    results: list[RuleSummary] = Field(description="Each rule asked, in the order of `rules` (default: by id).")
    answer_path: str = Field(description=ANSWER_PATH)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": "EV-MOTOR-200",
                    "name": "EV traction motor 200 kW (high-temperature magnets)",
                    "organization": "ACME",
                    "results": [
                        {
                            "rule": "dfars-7052",
                            "title": "US DFARS 252.225-7052: magnets from covered countries",
                            "version": "2027",
                            "in_force": True,
                            "answer": "yes",
                            "share_percent": "2.436961",
                            "unknown_percent": "0",
                            "lots_count": 1,
                        }
                    ],
                    "answer_path": "/v1/skus/EV-MOTOR-200/compliance?on=2027-01-01",
                }
            ]
        }
    )


ORIGIN_ITEM_EXAMPLE: dict[str, Any] = {
    "sku": "EV-MOTOR-200",
    "name": "EV traction motor 200 kW (high-temperature magnets)",
    "organization": "ACME",
    "answer": "yes",
    "share_percent": "2.436961",
    "unknown_percent": "0",
    "total_kg": "1181.8",
    "lots_count": 1,
    "answer_path": "/v1/skus/EV-MOTOR-200/origin?countries=CN",
}


class SkuOriginItem(BaseModel):
    sku: str
    name: str
    organization: str = Field(description="The organization that owns the SKU.")
    answer: AnswerValue = Field(description="The SKU's answer: its worst production lot's (`unknown` with none).")
    share_percent: DecimalOut = Field(description="Percent of the rare-earth mass on routes touching the countries.")
    unknown_percent: DecimalOut = Field(description="Percent of the mass with an asked stage nobody has shown.")
    total_kg: DecimalOut = Field(description="Kilograms of rare-earth elements in the SKU's production lots.")
    lots_count: int = Field(description="How many production lots the answer covers.")
    answer_path: str = Field(description=ANSWER_PATH)

    model_config = ConfigDict(json_schema_extra={"examples": [ORIGIN_ITEM_EXAMPLE]})
