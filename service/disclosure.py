"""The auditor's view of a SKU: the s.857 disclosure, the flow of its rare earths, and what the report shows.

US FY2023 NDAA s.857 asks contractors to disclose, for every permanent magnet, the countries where its
rare earths were mined, refined into oxides, made into metals and alloys, and where the magnet was
made: the first four stages of a route. Both the disclosure and the flows read the SKU's production
lots' stored origins and nothing upstream; their numbers come from ``weigh`` (kilograms per route,
summed exactly over the lots) and ``lots.stage_percents``, the arithmetic every answer uses.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from sqlmodel import Session

from service import assessments, judging, visibility
from service import origin as engine
from service.access import Principal
from service.assessments import ProductionLot
from service.lots import stage_percents
from service.numbers import format_kg, format_share
from service.questions import Question, weigh
from service.sankey import Flows, flow_graph
from service.schemas import AssessmentRead, ComplianceRead
from service.schemas.disclosure import DisclosureLot, DisclosureRead, FlowLinkRead, FlowNodeRead, FlowsRead
from service.skus import get_sku

# mining, refining (oxides), metal_making (metals and alloys), magnet_making: what s.857 asks about.
DISCLOSED_STAGES: tuple[str, ...] = engine.STAGES[:4]
# ``weigh`` classifies kilograms for a question; the routes it sums do not depend on which.
ANY_QUESTION = Question()
# How many judged lots each rule lists on the report.
REPORT_LOTS_LIMIT = 20


def sku_routes(origins: Sequence[engine.StoredOrigin]) -> dict[engine.Route, Fraction]:
    """Kilograms per route over the stored origins, summed exactly."""
    return weigh(origins, ANY_QUESTION).routes


def disclosed_stages(routes: Mapping[engine.Route, Fraction]) -> dict[str, dict[str, str]]:
    """Percent of the rare-earth mass by country (or ``unknown``, ``none``, ``recycled``) at each s.857 stage."""
    percents = stage_percents(routes)
    return {stage: percents[stage] for stage in DISCLOSED_STAGES}


def _total(routes: Mapping[engine.Route, Fraction]) -> Fraction:
    return sum(routes.values(), Fraction(0))


def disclosure(sku: str, as_of: datetime, lots: Sequence[ProductionLot]) -> DisclosureRead:
    """The s.857 disclosure of a SKU: each stage's countries for each lot, and for the SKU mass-weighted over them."""
    routes = sku_routes([lot.origin for lot in lots])
    per_lot = []
    for lot in lots:
        lot_routes = sku_routes([lot.origin])
        per_lot.append(
            DisclosureLot(
                id=lot.id,
                code=lot.code,
                organization=lot.organization,
                total_kg=format_kg(_total(lot_routes)),
                stages=disclosed_stages(lot_routes),
            )
        )
    return DisclosureRead(
        subject={"kind": "sku", "sku": sku},
        as_of=as_of,
        total_kg=format_kg(_total(routes)),
        lots_count=len(lots),
        stages=disclosed_stages(routes),
        lots=per_lot,
    )


def as_seen_by(found: DisclosureRead, actor: Principal) -> DisclosureRead:
    """The disclosure as ``actor`` may read it: the lots it may not see without id or code (the same object if none)."""
    shown = visibility.lots_seen_by(found.lots, actor)
    return found if shown is None else found.model_copy(update={"lots": shown})


def sku_flows(lots: Sequence[ProductionLot]) -> Flows:
    """The flows of the SKU's rare earths over all its production lots."""
    return flow_graph(sku_routes([lot.origin for lot in lots]))


def flows_read(sku: str, as_of: datetime, lots_count: int, flows: Flows) -> FlowsRead:
    """The SKU's flows as the API writes them: exact kilograms, and percents of the total."""
    whole = flows.total

    def percent(kg: Fraction) -> str:
        return format_share(kg, whole)

    return FlowsRead(
        subject={"kind": "sku", "sku": sku},
        as_of=as_of,
        total_kg=format_kg(whole),
        lots_count=lots_count,
        stages=list(engine.STAGES),
        nodes=[
            FlowNodeRead(id=n.id, stage=n.stage, country=n.value, kg=format_kg(n.kg), percent=percent(n.kg))
            for n in flows.nodes
        ],
        links=[
            FlowLinkRead(source=link.source, target=link.target, kg=format_kg(link.kg), percent=percent(link.kg))
            for link in flows.links
        ],
    )


def sku_production_lots(session: Session, sku: str, as_of: datetime) -> list[ProductionLot]:
    """The production lots of a SKU that existed at ``as_of``, as the service knew them then (404 otherwise)."""
    asked = assessments.ask_sku(session, sku, ANY_QUESTION, as_of=as_of)
    return assessments.production_lots(session, asked.sku_pk, None, None, as_of=as_of)


@dataclass(frozen=True)
class Report:
    """What the report of a SKU shows: the answer, the rules' answers, the flows and the disclosure."""

    sku: str
    name: str
    organization: str
    as_of: datetime
    on: date
    answer: AssessmentRead
    compliance: ComplianceRead
    flows: Flows
    disclosure: DisclosureRead


def sku_report(session: Session, sku: str, as_of: datetime, on: date, actor: Principal) -> Report:
    """The report's parts as known at ``as_of`` and as ``actor`` may read them; the rules with a version on ``on``."""
    asked = assessments.ask_sku(session, sku, ANY_QUESTION, as_of=as_of)
    lots = assessments.production_lots(session, asked.sku_pk, None, None, as_of=as_of)
    answer = assessments.assess_sku(session, asked)
    compliance = judging.sku_compliance(session, sku, asked.sku_pk, None, on, REPORT_LOTS_LIMIT, as_of)
    registered = get_sku(session, sku)
    return Report(
        sku=sku,
        name=registered.name,
        organization=registered.organization,
        as_of=as_of,
        on=on,
        answer=assessments.as_seen_by(answer, actor),
        compliance=judging.as_seen_by(compliance, actor),
        flows=sku_flows(lots),
        disclosure=as_seen_by(disclosure(sku, as_of, lots), actor),
    )
