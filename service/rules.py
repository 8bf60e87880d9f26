"""Compliance rules (RULES.md, "Rule"): the built-ins of rules.json and the custom ones an admin adds.

A rule is one legal question written down once, with dated versions. Rules are never edited: a
new reading is a new rule. Custom rules are stored whole, as the JSON they were accepted as.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from service import audit
from service.audit import WriteContext
from service.compliance import RuleTest
from service.contract import CONTRACT_DIR
from service.db import utcnow
from service.errors import Conflict, NotFound, invalid
from service.models import CustomRule
from service.numbers import format_decimal
from service.schemas.rules import RuleCreate, RuleRead, RuleVersionRead


@dataclass(frozen=True)
class RuleVersion(RuleTest):
    """One reading of a rule over ``[effective_from, effective_to)``: the engine's test, and when and what it judges."""

    version: str
    effective_from: date
    effective_to: date | None
    in_force: bool
    subject_materials: tuple[str, ...] | None  # None: the lot itself is judged

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    authority: str | None
    source: str | None
    notes: str | None
    builtin: bool
    versions: tuple[RuleVersion, ...]

    def version_on(self, day: date) -> RuleVersion | None:
        """The version whose window holds ``day``; versions meet end to start, so there is at most one."""
        return next((v for v in self.versions if v.covers(day)), None)


def check_rule(body: RuleCreate) -> None:
    """What the body's schema cannot see field by field: each version's dates and test, then how versions meet."""
    for index, v in enumerate(body.versions):
        at = f"versions.{index}"
        if v.effective_to is not None and v.effective_to <= v.effective_from:
            raise invalid(f"{at}.effective_to", "must be after effective_from")
        if v.basis == "value" and v.elements is None:
            raise invalid(f"{at}.basis", "value needs elements: prices are per element")
        if v.threshold_inclusive and v.threshold_percent == 0:
            raise invalid(f"{at}.threshold_inclusive", "an inclusive threshold must be above 0")
    labels: set[str] = set()
    for index, v in enumerate(body.versions):
        if v.version in labels:
            raise invalid(f"versions.{index}.version", f"{v.version!r} labels an earlier version too")
        labels.add(v.version)
        if index > 0:
            before = body.versions[index - 1].effective_to
            if before != v.effective_from:
                raise invalid(
                    f"versions.{index}.effective_from",
                    f"must be the previous version's effective_to ({before.isoformat() if before else 'null'})",
                )


def _version(document: dict[str, Any]) -> RuleVersion:
    def optional(name: str) -> tuple[str, ...] | None:
        items = document[name]
        return None if items is None else tuple(items)

    return RuleVersion(
        version=document["version"],
        effective_from=date.fromisoformat(document["effective_from"]),
        effective_to=None if document["effective_to"] is None else date.fromisoformat(document["effective_to"]),
        in_force=document["in_force"],
        countries=tuple(document["countries"]),
        stages=tuple(document["stages"]),
        elements=optional("elements"),
        basis=document["basis"],
        threshold_percent=Decimal(document["threshold_percent"]),
        threshold_inclusive=document["threshold_inclusive"],
        subject_materials=optional("subject_materials"),
        exemptions=tuple(tuple(sorted(pattern.items())) for pattern in document["exemptions"]),
    )


def _rule(document: dict[str, Any], builtin: bool) -> Rule:
    """A rule from its accepted JSON (``RuleCreate`` dumped in JSON mode)."""
    return Rule(
        id=document["id"],
        title=document["title"],
        authority=document["authority"],
        source=document["source"],
        notes=document["notes"],
        builtin=builtin,
        versions=tuple(_version(v) for v in document["versions"]),
    )


def _accepted(body: RuleCreate) -> dict[str, Any]:
    return body.model_dump(mode="json")


def _load_builtin() -> tuple[Rule, ...]:
    # The shipped rules pass the same checks as a custom one; a bad rules.json fails at import.
    rules = []
    for document in json.loads((CONTRACT_DIR / "rules.json").read_text(encoding="utf-8")):
        body = RuleCreate.model_validate(document)
        check_rule(body)
        rules.append(_rule(_accepted(body), builtin=True))
    return tuple(sorted(rules, key=lambda r: r.id))


BUILTIN_RULES: tuple[Rule, ...] = _load_builtin()
_BUILTIN_BY_ID = {rule.id: rule for rule in BUILTIN_RULES}


def _custom(as_of: datetime | None) -> Any:
    query = select(CustomRule)
    return query if as_of is None else query.where(col(CustomRule.created_at) <= as_of)


def list_rules(session: Session, as_of: datetime | None = None) -> list[Rule]:
    """Every rule (custom ones created by ``as_of``), by id in ASCII order (sorted here, not by a collation)."""
    custom = [_rule(row.body, builtin=False) for row in session.exec(_custom(as_of))]
    return sorted([*BUILTIN_RULES, *custom], key=lambda r: r.id)


def find_rule(session: Session, rule_id: str, as_of: datetime | None = None) -> Rule | None:
    if rule_id in _BUILTIN_BY_ID:
        return _BUILTIN_BY_ID[rule_id]
    row = session.exec(_custom(as_of).where(CustomRule.id == rule_id)).first()
    return None if row is None else _rule(row.body, builtin=False)


def get_rule(session: Session, rule_id: str, as_of: datetime | None = None) -> Rule:
    rule = find_rule(session, rule_id, as_of)
    if rule is None:
        raise NotFound(f"No rule has the id {rule_id!r}.")
    return rule


def create_rule(session: Session, body: RuleCreate, context: WriteContext) -> Rule:
    """Store a custom rule and audit it, in the caller's transaction: checked whole first, then its id (409)."""
    check_rule(body)
    if find_rule(session, body.id) is not None:
        what = "a built-in rule" if body.id in _BUILTIN_BY_ID else "a rule"
        raise Conflict(f"The id {body.id!r} is {what}'s already: rules are never edited, add one with a new id.")
    document = _accepted(body)
    session.add(CustomRule(id=body.id, body=document, created_at=utcnow()))
    session.flush()
    audit.append(session, context, "rule.created", body.id)
    return _rule(document, builtin=False)


def tested_as_written(version: RuleVersion) -> dict[str, Any]:
    """A version's test as answers and rule reads write it (``RuleVersionRead`` and ``RuleResult`` share it)."""
    return {
        "version": version.version,
        "in_force": version.in_force,
        "countries": list(version.countries),
        "stages": list(version.stages),
        "elements": None if version.elements is None else list(version.elements),
        "basis": version.basis,
        "threshold_percent": format_decimal(version.threshold_percent),
        "threshold_inclusive": version.threshold_inclusive,
    }


def to_read(rule: Rule) -> RuleRead:
    return RuleRead(
        id=rule.id,
        title=rule.title,
        authority=rule.authority,
        source=rule.source,
        notes=rule.notes,
        builtin=rule.builtin,
        versions=[
            RuleVersionRead(
                **tested_as_written(v),
                effective_from=v.effective_from,
                effective_to=v.effective_to,
                subject_materials=None if v.subject_materials is None else list(v.subject_materials),
                exemptions=[dict(pattern) for pattern in v.exemptions],
            )
            for v in rule.versions
        ],
    )
