"""Attestations: an answer signed by the service and kept, so an auditor can prove later what it said."""

from typing import Annotated

from fastapi import Body, Path, Query, Request

from service import attestations
from service.api.catalog import Cursor, Limit
from service.api.common import problems, v1_router, write_problems
from service.api.deps import Reader, SessionDep, WriteContextDep, run_database_work
from service.pagination import DEFAULT_LIMIT
from service.schemas import AttestationCreate, AttestationCreated, AttestationRead, Page
from service.schemas.attestations import ATTESTATION_CREATE_EXAMPLE

router = v1_router("attestations")

AttestationId = Annotated[
    str, Path(description="The attestation's id (a UUID).", examples=["0b1f7f5e-7c55-4a8a-9a55-3a8c4e2d9f10"])
]
CREATE_EXAMPLES = {
    "rules": {
        "summary": "The rules' answer for a SKU on a date, as known at a moment",
        "value": ATTESTATION_CREATE_EXAMPLE,
    },
    "question": {
        "summary": "The plain question's answer for a SKU, now",
        "value": {
            "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
            "question": {"countries": ["CN"], "stages": ["mining", "refining"], "threshold_percent": "0"},
        },
    },
    "disclosure": {
        "summary": "The s.857 disclosure of a SKU",
        "value": {"subject": {"kind": "sku", "sku": "EV-MOTOR-200"}, "of": "disclosure"},
    },
}


@router.post(
    "/attestations",
    status_code=201,
    summary="Attest an answer",
    responses=write_problems("An Idempotency-Key was reused with another body.") | problems(503),
)
async def issue_attestation(
    request: Request,
    body: Annotated[AttestationCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    session: SessionDep,
    context: WriteContextDep,
) -> AttestationCreated:
    """Sign and keep an answer (origin, rules or disclosure) as of a moment, with the audit chain's head, as proof.

    The answer signed is the one its GET gives the issuing key: the lots that key may not see are without id or
    code, so an attestation never shows more than its issuer could read.
    """
    signer = request.app.state.signer
    return await run_database_work(request, attestations.issue, session, body, signer, context)


@router.get("/attestations/{id}", summary="Get an attestation", responses=problems(404))
def get_attestation(id: AttestationId, session: SessionDep, actor: Reader) -> AttestationRead:
    """One attestation: the signed JWS, and its payload decoded for reading (verify the JWS to rely on it).

    Admin and auditor keys read every attestation; other keys only those their own organization's keys issued
    (another's is not found).
    """
    return attestations.get_attestation(session, id, actor)


@router.get("/attestations", summary="List attestations", responses=problems(422))
def list_attestations(
    session: SessionDep,
    actor: Reader,
    sku: Annotated[str | None, Query(description="Only attestations of this SKU.", examples=["EV-MOTOR-200"])] = None,
    lot: Annotated[str | None, Query(description="Only attestations of this lot (its id).")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AttestationRead]:
    """The attestations the key reads, oldest first, of one SKU or lot if asked.

    Admin and auditor keys read every attestation; other keys only those their own organization's keys issued.
    """
    return attestations.list_attestations(session, limit, cursor, actor, sku=sku, lot=lot)
