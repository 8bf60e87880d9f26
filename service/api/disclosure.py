"""The auditor's pages for a SKU: the s.857 disclosure, the flow of rare earths, and a printable report."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session

from service import attestations, disclosure, knowledge, report
from service.access import Principal
from service.api.catalog import SkuPath
from service.api.common import AsOf, problems, v1_router
from service.api.compliance import On, day_of
from service.api.contract import SECURITY_HEADERS
from service.api.deps import Reader, SessionDep, WriteContextDep, run_database_work
from service.api.problems import PROBLEM_JSON
from service.audit import WriteContext
from service.db import transaction, utcnow
from service.errors import Invalid, NotAcceptable
from service.schemas import AttestationCreate, Problem, is_code
from service.schemas.attestations import SkuSubject
from service.schemas.disclosure import (
    DISCLOSURE_CSV_EXAMPLE,
    DISCLOSURE_EXAMPLE,
    FLOWS_EXAMPLE,
    DisclosureRead,
    FlowsRead,
)
from service.signing import Signer
from service.skus import no_sku

router = v1_router("disclosure")

JSON = "application/json"
CSV = "text/csv"
HTML = "text/html"


def _accepted(header: str) -> list[tuple[str, float]]:
    """The media ranges of an ``Accept`` header with their weights (RFC 9110, 12.5.1); a bad weight counts as 0."""
    ranges = []
    for part in header.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        ranges.append((media.lower(), weight))
    return ranges


def negotiate(header: str | None, offered: Sequence[str]) -> str:
    """The offered media type the client weighs highest; ties go to the first offered (JSON where offered).

    No ``Accept`` (or ``*/*``) gets the first offered; a header none of them matches is 406.
    """
    if header is None or not header.strip():
        return offered[0]
    ranges = _accepted(header)
    best: tuple[float, int, str] | None = None
    for position, media in enumerate(offered):
        kind = media.split("/")[0]
        # The most specific range that matches decides this media type's weight.
        matching = [
            (specificity, weight)
            for accepted, weight in ranges
            for specificity, pattern in ((2, media), (1, f"{kind}/*"), (0, "*/*"))
            if accepted == pattern
        ]
        if not matching:
            continue
        weight = max(matching)[1]
        if weight > 0 and (best is None or (weight, -position) > (best[0], -best[1])):
            best = (weight, position, media)
    if best is None:
        raise NotAcceptable(f"This resource is available as {', '.join(offered)}; the request accepts none of them.")
    return best[2]


def _responses(*media: tuple[str, Any]) -> dict[int | str, dict[str, Any]]:
    """Problems, a 200 with an example for each media type (the first is the default), and a 406 for any other."""
    content: dict[str, Any] = {
        media_type: {"example": example} | ({} if media_type == JSON else {"schema": {"type": "string"}})
        for media_type, example in media
    }
    (default, _), *others = media
    described = f"`{default}` (also for no `Accept` and `*/*`)"
    if others:
        described += ", or by `Accept`: " + ", ".join(f"`{media_type}`" for media_type, _ in others)
    not_acceptable = {
        "model": Problem,
        "description": f"The `Accept` header accepts none of {', '.join(m for m, _ in media)}.",
        "content": {PROBLEM_JSON: {}},
    }
    return {200: {"description": described, "content": content}, **problems(404, 422), 406: not_acceptable}


HTML_EXAMPLE = '<!doctype html>\n<html lang="en">...<h1>Rare-earth origin disclosure (US FY2023 NDAA s.857)</h1>...'
REPORT_EXAMPLE = (
    '<!doctype html>\n<html lang="en">...<h1>Rare-earth origin report: EV-MOTOR-200</h1>...<svg class="sankey" '
    '...><g class="node known" data-node="mining:AU" data-kg="1153">...</svg>...'
)


def _disclosure(session: Session, sku: str, as_of: datetime | None, actor: Principal) -> DisclosureRead:
    moment = knowledge.moment(as_of)
    found = disclosure.disclosure(sku, moment, disclosure.sku_production_lots(session, sku, moment))
    return disclosure.as_seen_by(found, actor)


def _attested(
    engine: Engine, sku: str, as_of: datetime | None, signer: Signer | None, context: WriteContext
) -> DisclosureRead:
    """The disclosure as an attestation signs it (as its issuer may read it), with the attestation's id."""
    if not is_code(sku):
        raise no_sku(sku, as_of)  # no SKU has a code of that form: not found, as without attest
    asked = AttestationCreate(subject=SkuSubject(kind="sku", sku=sku), of="disclosure", as_of=as_of)
    with transaction(engine, write=True) as session:
        try:
            created = attestations.issue(session, asked, signer, context)
        except Invalid as refused:
            if any(error.field == "subject.sku" for error in refused.errors):
                raise no_sku(sku, as_of) from None  # the SKU is the path's here: not found, as without attest
            raise
    found = DisclosureRead.model_validate(attestations.payload_of(created.jws)["answer"])
    return found.model_copy(update={"attestation": created.id})


def _flows(session: Session, sku: str, as_of: datetime | None) -> FlowsRead:
    moment = knowledge.moment(as_of)
    lots = disclosure.sku_production_lots(session, sku, moment)
    return disclosure.flows_read(sku, moment, len(lots), disclosure.sku_flows(lots))


@router.get(
    "/skus/{sku}/disclosure",
    summary="Disclose a SKU's rare-earth countries (s.857)",
    response_model=DisclosureRead,
    responses=_responses((JSON, DISCLOSURE_EXAMPLE), (HTML, HTML_EXAMPLE), (CSV, DISCLOSURE_CSV_EXAMPLE)),
)
async def disclose_sku(
    request: Request,
    sku: SkuPath,
    session: SessionDep,
    actor: Reader,
    context: WriteContextDep,
    as_of: AsOf = None,
    attest: Annotated[
        bool,
        Query(
            description="Also sign and keep this disclosure as an attestation (admin, auditor, or a recorder of the "
            "SKU's organization): its id is shown with it, and `GET /v1/attestations/{id}` gives the signed JWS."
        ),
    ] = False,
) -> Any:
    """US FY2023 NDAA s.857: where this SKU's rare earths were mined, refined, made into metal and into magnets.

    Any key may ask. The lots the key may not see (another organization's, unless the key is an admin's or an
    auditor's) are listed with their organization, kilograms and countries, without id or code (null in JSON,
    empty in CSV, not shown in HTML).
    """
    media = negotiate(request.headers.get("accept"), (JSON, HTML, CSV))
    if attest:
        # Issued in a write transaction of its own: this GET's transaction only reads.
        signer = request.app.state.signer
        found = await run_in_threadpool(_attested, request.app.state.engine, sku, as_of, signer, context)
    else:
        found = await run_database_work(request, _disclosure, session, sku, as_of, actor)
    headers = {"Vary": "Accept"}
    if media == CSV:
        headers["Content-Disposition"] = f'attachment; filename="{sku}-disclosure.csv"'
        csv = report.disclosure_csv(found)
        return Response(csv, media_type="text/csv; charset=utf-8", headers=headers | SECURITY_HEADERS)
    if media == HTML:
        page = report.disclosure_page(found, utcnow(), found.attestation)
        return HTMLResponse(page, headers=headers | SECURITY_HEADERS)
    return JSONResponse(found.model_dump(mode="json"), headers=headers)


@router.get(
    "/skus/{sku}/flows",
    summary="Trace a SKU's rare earths stage to stage (Sankey data)",
    response_model=FlowsRead,
    responses=_responses((JSON, FLOWS_EXAMPLE)),
)
async def sku_flows(request: Request, sku: SkuPath, session: SessionDep, _actor: Reader, as_of: AsOf = None) -> Any:
    """How many kilograms of this SKU's rare earths went from each stage's country to the next stage's."""
    negotiate(request.headers.get("accept"), (JSON,))
    return await run_database_work(request, _flows, session, sku, as_of)


@router.get(
    "/skus/{sku}/report",
    summary="Print a SKU's rare-earth origin report",
    response_class=HTMLResponse,
    responses=_responses((HTML, REPORT_EXAMPLE)),
)
async def sku_report(
    request: Request, sku: SkuPath, session: SessionDep, actor: Reader, as_of: AsOf = None, on: On = None
) -> HTMLResponse:
    """A page for buyers and auditors: the answer, every rule's answer, the flows drawn, and the s.857 disclosure.

    Any key may ask; the lots the key may not see (another organization's, unless the key is an admin's or an
    auditor's) are shown by their organization only, without id or code.
    """
    negotiate(request.headers.get("accept"), (HTML,))
    day = day_of(on)
    moment = knowledge.moment(as_of)
    # Every rule walks the SKU's lots upstream: worked out in a thread, like the rules' answer.
    found = await run_in_threadpool(disclosure.sku_report, session, sku, moment, day, actor)
    return HTMLResponse(report.report_page(found, utcnow()), headers={"Vary": "Accept"} | SECURITY_HEADERS)
