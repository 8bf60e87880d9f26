"""A rule's answer for a lot or a SKU on a date (RULES.md, Endpoints)."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from service.schemas.answers import HIDDEN_LOT
from service.schemas.common import AnswerValue, DecimalOut


class ReasonRead(BaseModel):
    code: Literal["missing_value", "missing_price", "no_subject_lots", "no_production_lots"]
    lot: str | None = Field(
        description="The lot's id, where the reason is about one lot; null too where the caller may not see that "
        "lot (another organization's, to a key that is neither admin nor auditor), whose code `detail` then omits "
        "(since issue 12)."
    )
    element: str | None = Field(description="The element without a price, for `missing_price`.")
    detail: str


class JudgedLot(BaseModel):
    id: str | None = Field(description="The lot's id." + HIDDEN_LOT)
    code: str | None = Field(description="The lot's code." + HIDDEN_LOT)
    organization: str = Field(description="The organization that holds the lot (always shown).")
    material: str
    answer: AnswerValue
    share_percent: DecimalOut | None = Field(description="Null when a value test could not be done.")
    unknown_percent: DecimalOut | None
    reasons: list[ReasonRead]


class RuleResult(BaseModel):
    rule: str
    title: str
    version: str = Field(description="The rule's version whose window covers the date.")
    in_force: bool = Field(description="Whether that version binds anyone on the date; the test is done either way.")
    basis: Literal["mass", "value"]
    countries: list[str]
    stages: list[str]
    elements: list[str] | None
    threshold_percent: DecimalOut
    threshold_inclusive: bool
    answer: AnswerValue = Field(description="The worst answer of the lots the rule judges.")
    share_percent: DecimalOut | None = Field(
        description="Over the distinct judged lots, by mass or by value; null when a value or price is missing or "
        "values are in several currencies."
    )
    unknown_percent: DecimalOut | None
    lots: list[JudgedLot] = Field(description="The judged lots, worst first, at most `lots_limit`.")
    lots_count: int
    reasons: list[ReasonRead] = Field(description="Why an answer is unknown or incomplete, for every judged lot.")
    explanation: str = Field(description="The rule's answer in one plain sentence.")
    # Not part of the answer: each lot it judges or names in a reason, by id, as (code, organization), so that
    # a remembered answer can be shown to a caller who may not see some of them without working it out again.
    _named_lots: dict[str, tuple[str, str]] = PrivateAttr(default_factory=dict)


COMPLIANCE_EXAMPLE: dict[str, Any] = {
    "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
    "on": "2027-01-01",
    "as_of": "2026-12-01T09:30:00Z",
    "results": [
        {
            "rule": "dfars-7052",
            "title": "US DFARS 252.225-7052: magnets from covered countries",
            "version": "2027",
            "in_force": True,
            "basis": "mass",
            "countries": ["CN", "RU", "KP", "IR"],
            "stages": ["mining", "refining", "metal_making", "magnet_making", "manufacturing"],
            "elements": None,
            "threshold_percent": "0",
            "threshold_inclusive": False,
            "answer": "yes",
            "share_percent": "2.436961",
            "unknown_percent": "0",
            "lots": [],
            "lots_count": 1,
            "reasons": [],
            "explanation": "US DFARS 252.225-7052 (version 2027, in force on 2027-01-01) answers yes for SKU "
            "EV-MOTOR-200: 2.436961 % of the rare earths it judges went through CN, RU, KP or IR.",
        }
    ],
}


class ComplianceRead(BaseModel):
    """The rules' answers for a lot or a SKU on a date."""

    subject: dict[str, str]
    on: date = Field(description="The date whose rules and prices apply.")
    as_of: datetime = Field(
        description="The moment the answer is given as of: only the lots, prices and custom rules recorded by then "
        "count (`as_of` if asked, else when it was answered)."
    )
    results: list[RuleResult]

    model_config = ConfigDict(json_schema_extra={"examples": [COMPLIANCE_EXAMPLE]})
