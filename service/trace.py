"""Walking the lot graph, for auditors: which lots and events led to a lot, or came of it.

Answers never walk the graph (origins are stored); only this view does,
level by level with one query per level, and no deeper than asked.

The walk shows the caller's own lots and events in full (``visibility``). Where it enters
another organization it shows one redacted node per organization and hop, never that
organization's lot or event ids, and goes no further that way.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from sqlmodel import Session, col, select

from service import origin as engine
from service.access import OPERATOR, Principal
from service.lots import LotView, get_lot_view, lot_state, origin_read, views_by_pk
from service.models import Event, EventInput, Facility, Lot, Organization
from service.numbers import format_decimal
from service.schemas import TraceEdge, TraceNode, TraceRead
from service.visibility import sees_event, sees_lot

Direction = Literal["upstream", "downstream"]


def _lot_node(view: LotView, depth: int) -> TraceNode:
    lot = view.lot
    return TraceNode(
        kind="lot",
        id=lot.id,
        depth=depth,
        code=lot.code,
        organization=view.organization,
        facility=view.facility,
        material=lot.material,
        quantity=format_decimal(lot.quantity),
        unit=lot.unit,
        status=lot.status,
        occurred_at=lot.occurred_at,
    )


def _event_node(event: Event, facility: str, depth: int) -> TraceNode:
    return TraceNode(
        kind="event",
        id=event.id,
        depth=depth,
        facility=facility,
        type=event.type,
        stage=event.stage,
        status=event.status,
        occurred_at=event.occurred_at,
    )


@dataclass
class _Seen:
    """An event with its facility's code and organization, and the organizations it delivered to."""

    event: Event
    facility: str
    organization_pk: int
    organization: str
    delivered_to: set[int] = field(default_factory=set)


def _events(session: Session, event_pks: set[int]) -> dict[int, _Seen]:
    rows = session.exec(
        select(Event, Facility.code, Facility.organization_pk, Organization.code)
        .join(Facility, col(Event.facility_pk) == Facility.pk)
        .join(Organization, col(Facility.organization_pk) == Organization.pk)
        .where(col(Event.pk).in_(event_pks))
    )
    seen = {
        event.pk or 0: _Seen(event, facility, holder, organization) for event, facility, holder, organization in rows
    }
    made = session.exec(select(Lot.event_pk, Lot.organization_pk).where(col(Lot.event_pk).in_(event_pks)))
    for event_pk, holder in made:
        seen[event_pk].delivered_to.add(holder)
    return seen


@dataclass
class _Redacted:
    """What crossed from or to one other organization at one hop: material, quantity, and (upstream) origin."""

    organization: str
    depth: int
    materials: set[str] = field(default_factory=set)
    quantities: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    # The caller's lots made by the events this organization alone fed (upstream): their stored origin is its.
    received: list[LotView] = field(default_factory=list)
    is_mixed: bool = False

    @property
    def id(self) -> str:
        return f"org:{self.organization}:{self.depth}"

    def add(self, material: str, quantity: Decimal, unit: str) -> None:
        self.materials.add(material)
        self.quantities[unit] += quantity

    def node(self) -> TraceNode:
        (material,) = self.materials if len(self.materials) == 1 else (None,)
        (unit, quantity) = next(iter(self.quantities.items())) if len(self.quantities) == 1 else (None, None)
        return TraceNode(
            kind="organization",
            id=self.id,
            depth=self.depth,
            organization=self.organization,
            facility=None,
            material=material,
            quantity=None if quantity is None else format_decimal(quantity),
            unit=unit,
            status=None,
            occurred_at=None,
            origin=None if self.is_mixed or not self.received else origin_read(_pooled(self.received)),
        )


def _pooled(lots: list[LotView]) -> engine.LotState:
    composition: dict[str, Fraction] = defaultdict(Fraction)
    origin: dict[str, dict[engine.Route, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    for view in lots:
        state = lot_state(view.lot)
        for element, kg in state.composition.items():
            composition[element] += kg
        for element, routes in state.origin.items():
            for route, kg in routes.items():
                origin[element][route] += kg
    resolved = all(lot_state(view.lot).element_resolved for view in lots)
    return engine.LotState(dict(composition), {element: dict(routes) for element, routes in origin.items()}, resolved)


class _Walk:
    """The nodes and edges found so far, and the redacted nodes standing for other organizations."""

    def __init__(self, actor: Principal) -> None:
        self.actor = actor
        self.nodes: list[TraceNode] = []
        self.edges: list[TraceEdge] = []
        self.redacted: dict[tuple[str, int], _Redacted] = {}
        # (source, target) -> (quantity, unit) on edges into or out of a redacted node, summed.
        self.redacted_edges: dict[tuple[str, str], tuple[Decimal, str] | None] = {}

    def hidden(self, organization: str, depth: int) -> _Redacted:
        key = (organization, depth)
        if key not in self.redacted:
            self.redacted[key] = _Redacted(organization, depth)
        return self.redacted[key]

    def redacted_edge(self, source: str, target: str, quantity: Decimal | None = None, unit: str = "") -> None:
        key = (source, target)
        if key not in self.redacted_edges:
            self.redacted_edges[key] = None if quantity is None else (quantity, unit)
            return
        before = self.redacted_edges[key]
        same_unit = quantity is not None and before is not None and before[1] == unit
        self.redacted_edges[key] = (before[0] + quantity, unit) if same_unit else None  # type: ignore[index,operator]

    def close_level(self, depth: int) -> None:
        """The redacted nodes of this hop and their edges, in a stable order."""
        for (_, at), hidden in sorted(self.redacted.items()):
            if at == depth:
                self.nodes.append(hidden.node())
        for (source, target), summed in self.redacted_edges.items():
            quantity = None if summed is None else format_decimal(summed[0])
            self.edges.append(TraceEdge(source=source, target=target, quantity=quantity))
        self.redacted_edges = {}


def trace_lot(
    session: Session, lot_id: str, direction: Direction, max_depth: int, actor: Principal = OPERATOR
) -> TraceRead:
    """The walk from a lot ``actor`` sees, stopping wherever it enters another organization."""
    root = get_lot_view(session, lot_id, actor)
    walk = _Walk(actor)
    walk.nodes.append(_lot_node(root, 0))
    seen_lots = {root.lot.pk or 0}
    seen_events: set[int] = set()
    frontier = {root.lot.pk or 0: root}
    truncated = False
    for depth in range(1, max_depth + 2):
        if not frontier:
            break
        if direction == "upstream":
            event_pks = {view.lot.event_pk for view in frontier.values()} - seen_events
            links = list(session.exec(select(EventInput).where(col(EventInput.event_pk).in_(event_pks))))
        else:
            links = list(session.exec(select(EventInput).where(col(EventInput.lot_pk).in_(list(frontier)))))
            event_pks = {link.event_pk for link in links} - seen_events
        if depth > max_depth:
            truncated = bool(event_pks)
            break
        events = _events(session, event_pks)
        seen_events |= event_pks
        shown = {pk: seen for pk, seen in events.items() if sees_event(actor, seen.organization_pk, seen.delivered_to)}
        for pk in sorted(shown):
            walk.nodes.append(_event_node(shown[pk].event, shown[pk].facility, depth))
        if direction == "upstream":
            next_views = _upstream(session, walk, frontier, links, events, shown, depth)
        else:
            next_views = _downstream(session, walk, frontier, links, events, shown, depth)
        new_lots = sorted(set(next_views) - seen_lots)
        for pk in new_lots:
            walk.nodes.append(_lot_node(next_views[pk], depth))
        walk.close_level(depth)
        seen_lots |= set(new_lots)
        frontier = {pk: next_views[pk] for pk in new_lots}
    return TraceRead(
        lot=root.lot.id,
        direction=direction,
        max_depth=max_depth,
        nodes=walk.nodes,
        edges=walk.edges,
        truncated=truncated,
    )


def _upstream(
    session: Session,
    walk: _Walk,
    frontier: dict[int, LotView],
    links: list[EventInput],
    events: dict[int, _Seen],
    shown: dict[int, _Seen],
    depth: int,
) -> dict[int, LotView]:
    """Edges into this hop's events from their inputs; the inputs the caller sees, to walk on from."""
    views = views_by_pk(session, [link.lot_pk for link in links if link.event_pk in shown])
    next_views: dict[int, LotView] = {}
    fed_by: dict[int, set[str | None]] = defaultdict(set)
    for link in links:
        if link.event_pk not in shown:
            continue
        view, target = views[link.lot_pk], shown[link.event_pk].event.id
        if sees_lot(walk.actor, view.lot.organization_pk):
            walk.edges.append(TraceEdge(source=view.lot.id, target=target, quantity=format_decimal(link.quantity)))
            next_views[link.lot_pk] = view
            fed_by[link.event_pk].add(None)
            continue
        hidden = walk.hidden(view.organization, depth)
        hidden.add(view.lot.material, link.quantity, view.lot.unit)
        walk.redacted_edge(hidden.id, target, link.quantity, view.lot.unit)
        fed_by[link.event_pk].add(view.organization)
    for view in frontier.values():
        event_pk = view.lot.event_pk
        if event_pk in shown:
            walk.edges.append(TraceEdge(source=shown[event_pk].event.id, target=view.lot.id))
        elif event_pk in events:
            # Not reached while lots are made at their holder's facility or delivered to it; kept redacted if ever.
            walk.redacted_edge(walk.hidden(events[event_pk].organization, depth).id, view.lot.id)
    # What came from one organization alone is told by the origin stored in the caller's lots it made.
    for event_pk, feeders in fed_by.items():
        suppliers = [code for code in feeders if code is not None]
        for code in suppliers:
            hidden = walk.hidden(code, depth)
            if len(feeders) > 1:
                hidden.is_mixed = True
            else:
                hidden.received.extend(_own_outputs(session, walk.actor, event_pk))
    return next_views


def _own_outputs(session: Session, actor: Principal, event_pk: int) -> list[LotView]:
    made = session.exec(select(Lot.pk, Lot.organization_pk).where(Lot.event_pk == event_pk))
    pks = [pk or 0 for pk, holder in made if sees_lot(actor, holder)]
    return list(views_by_pk(session, pks).values())


def _downstream(
    session: Session,
    walk: _Walk,
    frontier: dict[int, LotView],
    links: list[EventInput],
    events: dict[int, _Seen],
    shown: dict[int, _Seen],
    depth: int,
) -> dict[int, LotView]:
    """Edges from the frontier into this hop's events and out to what they made; the caller's lots, to walk on."""
    for link in links:
        view = frontier[link.lot_pk]
        if link.event_pk in shown:
            target = shown[link.event_pk].event.id
            walk.edges.append(TraceEdge(source=view.lot.id, target=target, quantity=format_decimal(link.quantity)))
        elif link.event_pk in events:
            # Consumed at another organization's facility (only the operator records that): redacted, as a delivery.
            hidden = walk.hidden(events[link.event_pk].organization, depth)
            hidden.add(view.lot.material, link.quantity, view.lot.unit)
            walk.redacted_edge(view.lot.id, hidden.id, link.quantity, view.lot.unit)
    made = list(session.exec(select(Lot.pk, Lot.event_pk).where(col(Lot.event_pk).in_(list(shown)))))
    views = views_by_pk(session, [pk or 0 for pk, _ in made])
    next_views: dict[int, LotView] = {}
    for pk, event_pk in made:
        view, source = views[pk or 0], shown[event_pk].event.id
        if sees_lot(walk.actor, view.lot.organization_pk):
            walk.edges.append(TraceEdge(source=source, target=view.lot.id))
            next_views[pk or 0] = view
            continue
        hidden = walk.hidden(view.organization, depth)
        hidden.add(view.lot.material, view.lot.quantity, view.lot.unit)
        walk.redacted_edge(source, hidden.id)
    return next_views
