"""Compliance rules as the API takes and gives them (RULES.md, "Rule").

A bad item of a list is reported against the list (``versions.0.countries``), as the contract
names it; the checks that compare fields (dates that meet, ``value`` needing elements) are the
domain's, in ``service.rules``.
"""

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from service.origin import ELEMENTS, MATERIALS, RECYCLED, STAGES
from service.schemas.common import (
    TEXT_PATTERN,
    Code,
    Contract,
    DecimalIn,
    DecimalOut,
    Material,
    Name,
    Stage,
    check_country,
    check_route_value,
)

Basis = Literal["mass", "value"]
Element = Literal[
    "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Sc", "Y"
]  # fmt: skip
assert tuple(Element.__args__) == ELEMENTS  # type: ignore[attr-defined]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _check_date(value: object) -> object:
    if not (isinstance(value, str) and _DATE.match(value)) and not isinstance(value, date):
        raise ValueError('must be a date written "YYYY-MM-DD"')
    return value


IsoDate = Annotated[date, BeforeValidator(_check_date)]


def _list_of(what: str, check: Callable[[Any], object] | None = None) -> WrapValidator:
    """A non-empty list without repeats whose items pass ``check``; any bad item names the list itself."""

    def validate(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        if value is None:
            return handler(value)  # refused by the field's type unless it is nullable
        try:
            items = handler(value)
        except ValidationError:
            raise ValueError(f"must be a list of {what}") from None
        if not items:
            raise ValueError("must not be empty")
        for item in items:
            try:
                if check is not None:
                    check(item)
            except ValueError as error:
                raise ValueError(f"{item!r} {error}") from None
        seen: set[object] = set()
        for item in items:
            if item in seen:
                raise ValueError(f"names {item!r} twice")
            seen.add(item)
        return items

    return WrapValidator(validate)


def _check_pattern(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    try:
        pattern: dict[str, str] = handler(value)
    except ValidationError:
        raise ValueError(f"must map stages ({', '.join(STAGES)}) to a stage value") from None
    if not pattern:
        raise ValueError("must name at least one stage")
    for stage, stage_value in pattern.items():
        try:
            check_route_value(stage_value)
        except ValueError:
            raise ValueError(
                f"{stage}: {stage_value!r} is not a country code in upper case, unknown, none or recycled"
            ) from None
        if stage_value == RECYCLED and stage != "mining":
            raise ValueError(f"{stage}: recycled is a mining value only")
    return pattern


Countries = Annotated[list[str], _list_of("ISO 3166-1 alpha-2 country codes in upper case", check_country)]
Stages = Annotated[list[Stage], _list_of(f"stages ({', '.join(STAGES)})")]
Elements = Annotated[list[Element], _list_of("element symbols (not REE)")]
Materials = Annotated[list[Material], _list_of(f"materials ({', '.join(MATERIALS)})")]
Exemption = Annotated[dict[Stage, str], WrapValidator(_check_pattern)]


class RuleVersionCreate(Contract):
    version: Code = Field(description="A label, unique within the rule.", examples=["2027"])
    effective_from: IsoDate = Field(description="The first day this version covers.")
    effective_to: IsoDate | None = Field(
        description="The day after the last it covers: the next version's `effective_from`, or null (open)."
    )
    in_force: StrictBool = Field(
        description="Whether the rule binds anyone in this window (false: published or suspended)."
    )
    countries: Countries
    stages: Stages
    elements: Elements | None = Field(description="Null: every rare earth counts.")
    basis: Basis = Field(description="`value` needs `elements`.")
    threshold_percent: DecimalIn = Field(description="0 to 100: the test is share > threshold (>= when inclusive).")
    threshold_inclusive: StrictBool = Field(description="An inclusive threshold must be above 0.")
    subject_materials: Materials | None = Field(
        description="Null: the lot itself is judged; otherwise the nearest lots of these materials upstream."
    )
    exemptions: list[Exemption] = Field(
        default_factory=list,
        description="Route patterns (stage -> country, `unknown`, `none`, `recycled` at mining only) whose "
        "kilograms count for nothing but the total. Absent means none; null is refused.",
    )

    @field_validator("threshold_percent")
    @classmethod
    def _percent(cls, value: Decimal) -> Decimal:
        if not 0 <= value <= 100:
            raise ValueError("must be between 0 and 100")
        return value

    @field_validator("exemptions")
    @classmethod
    def _distinct_patterns(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        seen: set[frozenset[tuple[str, str]]] = set()
        for index, pattern in enumerate(value):
            key = frozenset(pattern.items())
            if key in seen:
                raise ValueError(f"pattern {index} repeats an earlier one")
            seen.add(key)
        return value


class RuleCreate(Contract):
    """A custom rule. Checked whole before its id (422 before 409); never edited afterwards."""

    id: Code = Field(description="A code; built-in ids are reserved.", examples=["ACME-DFARS-7052"])
    title: Name = Field(description="1 to 200 characters.")
    authority: Text | None = None
    source: Text | None = None
    notes: Text | None = Field(None, description="What is uncertain about the reading.")
    versions: list[RuleVersionCreate] = Field(
        min_length=1, description="Ordered by `effective_from`, each ending where the next begins."
    )

    @model_validator(mode="before")
    @classmethod
    def _ignore_builtin(cls, data: Any) -> Any:
        # The contract lets a client post a rule as GET gives it: `builtin` is the service's to say.
        if isinstance(data, dict) and "builtin" in data:
            return {name: value for name, value in data.items() if name != "builtin"}
        return data


class RuleVersionRead(BaseModel):
    version: str
    effective_from: date
    effective_to: date | None
    in_force: bool
    countries: list[str]
    stages: list[str]
    elements: list[str] | None
    basis: Basis
    threshold_percent: DecimalOut
    threshold_inclusive: bool
    subject_materials: list[str] | None
    exemptions: list[dict[str, str]]


class RuleRead(BaseModel):
    id: str
    title: str
    authority: str | None
    source: str | None
    notes: str | None
    builtin: bool = Field(description="Shipped with the service (rules.json), as opposed to added by an admin.")
    versions: list[RuleVersionRead]


RULE_EXAMPLE: dict[str, Any] = {
    "id": "ACME-DFARS-7052",
    "title": "US DFARS 252.225-7052: magnets from covered countries",
    "authority": "US Department of Defense",
    "source": "https://www.acquisition.gov/dfars/252.225-7052",
    "notes": "free text: what is uncertain about the reading",
    "versions": [
        {
            "version": "2027",
            "effective_from": "2027-01-01",
            "effective_to": None,
            "in_force": True,
            "countries": ["CN", "RU", "KP", "IR"],
            "stages": ["mining", "refining", "metal_making", "magnet_making", "manufacturing"],
            "elements": None,
            "basis": "mass",
            "threshold_percent": "0",
            "threshold_inclusive": False,
            "subject_materials": None,
            "exemptions": [{"mining": "recycled", "magnet_making": "US"}],
        }
    ],
}
