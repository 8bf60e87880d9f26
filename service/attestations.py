"""Attestations: an answer as the service gave it, signed with its key and kept, never to change.

The payload is ``{id, of, subject, question, rules, on, as_of, issued_at, kid, audit_head, answer}``:
``answer`` is exactly the body of the matching GET (``/origin``, ``/compliance`` or ``/disclosure``)
asked with the same parameters and ``as_of``, so anyone may ask again and compare; ``audit_head`` is
the audit chain's head when the answer was computed (the attestation's own entry follows it). The
signature (a compact JWS, ``service.signing``) proves the service said it, and that nobody edited it
since.
"""

import base64
import json
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from service import assessments, audit, disclosure, judging, knowledge, signing, visibility
from service.access import READ_AUDIT, WRITE_OWN, Principal
from service.audit import WriteContext
from service.db import utcnow
from service.errors import Forbidden, LodestoneError, NotFound, Unavailable, invalid
from service.models import Attestation, Lot, Sku
from service.pagination import decode_cursor, paginate
from service.questions import Question
from service.schemas import Page, is_code, is_id
from service.schemas.attestations import AttestationCreate, AttestationCreated, AttestationRead, QuestionBody


def _question(body: QuestionBody) -> Question:
    """The question the body asks, checked as ``/origin`` checks its query (errors under ``question.``)."""

    def joined(values: list[str] | None) -> str | None:
        return None if values is None else ",".join(values)

    threshold = None if body.threshold_percent is None else format(body.threshold_percent, "f")
    try:
        return Question.parse(joined(body.countries), joined(body.stages), threshold, joined(body.elements))
    except LodestoneError as refused:
        raise refused.at("question") from None


def _of(body: AttestationCreate) -> str:
    of = body.of or ("origin" if body.question is not None else "compliance")
    if of == "origin" and body.rules is not None:
        raise invalid("rules", "names rules, but the origin answer is attested: ask either a question or rules")
    if of != "compliance" and body.on is not None:
        raise invalid("on", "applies to the rules' answer only")
    if of != "origin" and body.question is not None:
        raise invalid("question", f"is asked, but the {of} answer is attested")
    if of == "disclosure" and (body.subject.kind != "sku" or body.rules is not None):
        raise invalid("of", "a disclosure is of a SKU, and answers no rules")
    return of


def _owner(session: Session, body: AttestationCreate) -> int | None:
    """The organization that owns the subject (None if there is no such subject: the answer will say 404)."""
    if body.subject.kind == "sku":
        query = sa.select(col(Sku.organization_pk)).where(sa.func.lower(col(Sku.sku)) == body.subject.sku.lower())
    else:
        query = sa.select(col(Lot.organization_pk)).where(col(Lot.id) == body.subject.id)
    return session.execute(query).scalar_one_or_none()


def _require_may_attest(session: Session, actor: Principal, body: AttestationCreate) -> None:
    """Admins and auditors attest anything; a manager or recorder only its own organization's SKUs and lots.

    Another organization's lot is not refused (which would confirm it exists) but not found, by the answer.
    """
    if actor.role in READ_AUDIT:
        return
    if actor.role not in WRITE_OWN:
        raise Forbidden(f"A {actor.role} key may not issue attestations.")
    owner = _owner(session, body)
    if owner is not None and owner != actor.organization_pk and body.subject.kind == "sku":
        raise Forbidden(f"A {actor.role} of {actor.organization} may only attest its own organization's SKUs and lots.")


def answer_body(
    session: Session,
    body: AttestationCreate,
    of: str,
    question: Question | None,
    on: date,
    as_of: datetime,
    actor: Principal,
) -> dict[str, Any]:
    """The answer as its GET gives it to ``actor`` as of ``as_of``, in JSON form: never more than the actor may read."""
    limit = body.lots_limit
    answer: BaseModel
    if body.subject.kind == "lot":
        lot_id = body.subject.id
        if of == "origin":
            assert question is not None
            answer = assessments.assess_lot(session, lot_id, question, as_of, actor)
        else:
            rules = None if body.rules is None else ",".join(body.rules)
            answer = judging.lot_compliance(session, lot_id, rules, on, limit, as_of, actor)
    else:
        sku = body.subject.sku
        if of == "origin":
            assert question is not None
            asked = assessments.ask_sku(session, sku, question, None, None, limit, as_of)
            answer = assessments.as_seen_by(assessments.assess_sku(session, asked), actor)
        elif of == "compliance":
            sku_pk, _ = judging.sku_revisions(session, sku, as_of)
            rules = None if body.rules is None else ",".join(body.rules)
            answer = judging.as_seen_by(judging.sku_compliance(session, sku, sku_pk, rules, on, limit, as_of), actor)
        else:
            found = disclosure.disclosure(sku, as_of, disclosure.sku_production_lots(session, sku, as_of))
            answer = disclosure.as_seen_by(found, actor)
    return answer.model_dump(mode="json")


def _signer(signer: signing.Signer | None) -> signing.Signer:
    if signer is None:
        raise Unavailable(
            "This service has no signing key: set LODESTONE_SIGNING_KEY to an Ed25519 private key (PEM) and restart."
        )
    return signer


def issue(
    session: Session, body: AttestationCreate, signer: signing.Signer | None, context: WriteContext
) -> AttestationCreated:
    """Compute the answer, sign it with the audit chain's head, keep it, and audit that it was issued."""
    key = _signer(signer)
    actor = context.actor
    _require_may_attest(session, actor, body)
    of = _of(body)
    question = _question(body.question or QuestionBody()) if of == "origin" else None
    issued_at = utcnow()
    as_of = knowledge.moment(body.as_of) if body.as_of is not None else issued_at
    on = body.on or issued_at.date()
    try:
        answer = answer_body(session, body, of, question, on, as_of, actor)
    except NotFound as missing:
        # The subject is part of the body, not of the path: a subject that does not exist is a bad request.
        raise invalid(f"subject.{'sku' if body.subject.kind == 'sku' else 'id'}", missing.detail) from None
    signing.register(session, key)
    seq, head_hash = audit.head(session)
    attestation_id = str(uuid.uuid4())
    payload = {
        "id": attestation_id,
        "of": of,
        "subject": body.subject.model_dump(mode="json"),
        "question": _question_read(question),
        "rules": body.rules,
        "on": on.isoformat() if of == "compliance" else None,
        "as_of": _timestamp(as_of),
        "issued_at": _timestamp(issued_at),
        "kid": key.kid,
        "audit_head": {"seq": seq, "hash": head_hash},
        "answer": answer,
    }
    jws = key.sign(payload)
    subject = body.subject
    session.add(
        Attestation(
            id=attestation_id,
            subject_kind=subject.kind,
            sku=subject.sku if subject.kind == "sku" else None,
            lot=subject.id if subject.kind == "lot" else None,
            key_id=actor.key_id,
            organization=actor.organization,
            kid=key.kid,
            issued_at=issued_at,
            jws=jws,
        )
    )
    session.flush()
    audit.append(session, context, "attestation.issued", attestation_id)
    return AttestationCreated(id=attestation_id, issued_at=issued_at, kid=key.kid, jws=jws)


def _question_read(question: Question | None) -> dict[str, Any] | None:
    if question is None:
        return None
    return {
        "countries": list(question.countries),
        "stages": list(question.stages),
        "elements": None if question.elements is None else list(question.elements),
        "threshold_percent": question.threshold_text(),
    }


def _timestamp(moment: datetime) -> str:
    """As every answer writes a moment (pydantic's JSON form of a UTC datetime)."""
    return moment.isoformat().replace("+00:00", "Z")


def payload_of(jws: str) -> dict[str, Any]:
    """The payload of a JWS this service signed, decoded without verifying (``signing.verify`` proves it)."""
    encoded = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return decoded


def _read(row: Attestation) -> AttestationRead:
    subject = (
        {"kind": "sku", "sku": row.sku or ""} if row.subject_kind == "sku" else {"kind": "lot", "id": row.lot or ""}
    )
    return AttestationRead(
        id=row.id,
        issued_at=row.issued_at,
        kid=row.kid,
        jws=row.jws,
        subject=subject,
        organization=row.organization,
        payload=payload_of(row.jws),
    )


def _issued_for(actor: Principal) -> Any:
    """The attestations ``actor`` reads: all for admins and auditors, else those its own organization's keys issued."""
    return visibility.issued_by_own(actor, col(Attestation.organization))


def get_attestation(session: Session, attestation_id: str, actor: Principal) -> AttestationRead:
    """One attestation; another organization's is not found, exactly like one that does not exist."""
    row = (
        session.exec(select(Attestation).where(Attestation.id == attestation_id, _issued_for(actor))).first()
        if is_id(attestation_id)
        else None
    )
    if row is None:
        raise NotFound(f"No attestation has the id {attestation_id!r}.")
    return _read(row)


def list_attestations(
    session: Session,
    limit: int,
    cursor: str | None,
    actor: Principal,
    *,
    sku: str | None = None,
    lot: str | None = None,
) -> Page[AttestationRead]:
    """The attestations ``actor`` reads, in the order they were issued, of one SKU or lot if asked."""
    after = decode_cursor(cursor, int)
    query = select(Attestation).where(_issued_for(actor)).order_by(col(Attestation.pk)).limit(limit + 1)
    if after is not None:
        query = query.where(col(Attestation.pk) > after)
    if sku is not None:
        matches = sa.func.lower(col(Attestation.sku)) == sku.lower()
        query = query.where(matches) if is_code(sku) else query.where(sa.false())
    if lot is not None:
        query = query.where(Attestation.lot == lot) if is_id(lot) else query.where(sa.false())
    rows, next_cursor = paginate(list(session.exec(query)), limit, key=lambda row: row.pk or 0)
    return Page[AttestationRead](items=[_read(row) for row in rows], next_cursor=next_cursor)
