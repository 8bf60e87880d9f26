"""Lots: what was recorded, with its origin, and the lots and events behind or after it."""

from collections.abc import Callable
from functools import partial
from typing import Annotated, Literal

from fastapi import Path, Query, Request, Response
from sqlmodel import Session

from service import lots, trace
from service.api.catalog import Cursor, Limit
from service.api.common import problems, v1_router
from service.api.deps import MaterialReader, SessionDep, run_database_work
from service.api.remembered import Pinned, remembered_page
from service.pagination import DEFAULT_LIMIT
from service.schemas import CODE_PATTERN, LotRead, Material, Page, TraceRead

router = v1_router("lots")

LotId = Annotated[str, Path(description="The lot's id (a UUID).", examples=["0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77"])]


@router.get("/lots", summary="List lots", response_model=Page[LotRead], responses=problems(422))
async def list_lots(
    request: Request,
    session: SessionDep,
    actor: MaterialReader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    organization: Annotated[str | None, Query(pattern=CODE_PATTERN, description="Held by this organization.")] = None,
    facility: Annotated[str | None, Query(pattern=CODE_PATTERN, description="At this facility.")] = None,
    sku: Annotated[str | None, Query(pattern=CODE_PATTERN, description="Units of this SKU.")] = None,
    code: Annotated[str | None, Query(pattern=CODE_PATTERN, description="With this lot code.")] = None,
    material: Annotated[Material | None, Query(description="Of this material.")] = None,
) -> Response:
    """List the lots the caller sees in the order they were recorded, with their origin.

    An organization's keys see the lots their organization holds (filters never find another's);
    admin and auditor keys see every lot.
    """
    listed = partial(
        lots.list_lots,
        actor=actor,
        organization=organization,
        facility=facility,
        sku=sku,
        code=code,
        material=material,
        reads=request.app.state.lot_reads,
    )
    changed, page = await run_database_work(request, _pinned_page, session, listed, limit, cursor)
    # Sent again for the same request, before routing, while nothing a list of lots shows has changed.
    return remembered_page(request, page, Pinned.to(request.app.state.engine, lots.listing_changed(), changed))


def _pinned_page(
    session: Session, listed: Callable[[Session, int, str | None], bytes], limit: int, cursor: str | None
) -> tuple[tuple[object, ...], bytes]:
    # What the page is pinned to is read first: a write landing in between makes the page newer than its pin,
    # so it is worked out again next time, never the other way round.
    changed = tuple(session.execute(lots.listing_changed()[0]).one())
    return changed, listed(session, limit, cursor)


@router.get("/lots/{id}", summary="Get a lot and its origin", responses=problems(404, 422))
def get_lot(
    id: LotId,
    session: SessionDep,
    actor: MaterialReader,
    elements: Annotated[bool, Query(description="Also break the origin down per element.")] = False,
) -> LotRead:
    """One lot: what it is, how much is left, and where its rare earths came from at every stage.

    Another organization's lot is 404, as if it did not exist (admin and auditor keys see every lot).
    """
    return lots.get_lot_view(session, id, actor).read(elements=elements)


@router.get("/lots/{id}/trace", summary="Trace a lot upstream or downstream", responses=problems(404, 422))
def trace_lot(
    id: LotId,
    session: SessionDep,
    actor: MaterialReader,
    direction: Annotated[
        Literal["upstream", "downstream"], Query(description="Where the lot came from, or what became of it.")
    ] = "upstream",
    max_depth: Annotated[int, Query(ge=1, le=100, description="How many events deep to walk.")] = 10,
) -> TraceRead:
    """The lots and events that led to this lot (upstream) or that it went into (downstream).

    Only the caller's own lots and events are shown in full: where the path enters another
    organization, one `organization` node per organization and hop (its code, the material and
    quantity that crossed, and upstream the origin of what came from there) stands for its lots and
    events, and the walk stops there. Another organization's lot is 404. Admin and auditor keys see everything.
    """
    return trace.trace_lot(session, id, direction, max_depth, actor)
