"""Walking the lot graph, for auditors: which lots and events led to a lot, or came of it.

Answers never walk the graph (origins are stored); only this view does,
level by level with one query per level, and no deeper than asked.
"""

from typing import Literal

from sqlmodel import Session, col, select

from service.lots import LotView, get_lot_view, views_by_pk
from service.models import Event, EventInput, Facility, Lot
from service.numbers import format_decimal
from service.schemas import TraceEdge, TraceNode, TraceRead

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


def _events(session: Session, event_pks: set[int]) -> dict[int, tuple[Event, str]]:
    rows = session.exec(
        select(Event, Facility.code)
        .join(Facility, col(Event.facility_pk) == Facility.pk)
        .where(col(Event.pk).in_(event_pks))
    )
    return {event.pk or 0: (event, code) for event, code in rows}


def trace_lot(session: Session, lot_id: str, direction: Direction, max_depth: int) -> TraceRead:
    root = get_lot_view(session, lot_id)
    nodes: list[TraceNode] = [_lot_node(root, 0)]
    edges: list[TraceEdge] = []
    seen_lots = {root.lot.pk or 0}
    seen_events: set[int] = set()
    frontier = {root.lot.pk or 0: root.lot}
    truncated = False
    for depth in range(1, max_depth + 2):
        if not frontier:
            break
        if direction == "upstream":
            event_pks = {lot.event_pk for lot in frontier.values()} - seen_events
            links = list(session.exec(select(EventInput).where(col(EventInput.event_pk).in_(event_pks))))
            made = [(lot.event_pk, lot.pk or 0) for lot in frontier.values()]
        else:
            links = list(session.exec(select(EventInput).where(col(EventInput.lot_pk).in_(list(frontier)))))
            event_pks = {link.event_pk for link in links} - seen_events
            made = []
        if depth > max_depth:
            truncated = bool(event_pks)
            break
        events = _events(session, event_pks)
        seen_events |= event_pks
        for pk in sorted(event_pks):
            event, facility = events[pk]
            nodes.append(_event_node(event, facility, depth))
        if direction == "downstream":
            made = [
                (lot.event_pk, lot.pk or 0) for lot in session.exec(select(Lot).where(col(Lot.event_pk).in_(event_pks)))
            ]
            next_pks = {lot_pk for _, lot_pk in made}
        else:
            next_pks = {link.lot_pk for link in links if link.event_pk in event_pks}
        views = views_by_pk(session, list(next_pks | {pk for _, pk in made} | {link.lot_pk for link in links}))
        for link in links:
            if link.event_pk in events:
                edges.append(
                    TraceEdge(
                        source=views[link.lot_pk].lot.id,
                        target=events[link.event_pk][0].id,
                        quantity=format_decimal(link.quantity),
                    )
                )
        for event_pk, lot_pk in made:
            if event_pk in events:
                edges.append(TraceEdge(source=events[event_pk][0].id, target=views[lot_pk].lot.id))
        new_lots = sorted(next_pks - seen_lots)
        for pk in new_lots:
            nodes.append(_lot_node(views[pk], depth))
        seen_lots |= set(new_lots)
        frontier = {pk: views[pk].lot for pk in new_lots}
    return TraceRead(
        lot=root.lot.id, direction=direction, max_depth=max_depth, nodes=nodes, edges=edges, truncated=truncated
    )
