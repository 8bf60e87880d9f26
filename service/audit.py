"""The audit trail: every successful write, appended in its own transaction, chained by SHA-256.

Each entry's hash covers its fields and the previous entry's hash, so changing,
removing or reordering any entry breaks every hash after it. Writers lock the one
``audit_head`` row to append, so the chain never forks under concurrency. There is
no code path that updates or deletes an entry.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from service.access import Principal
from service.db import utcnow
from service.models import AuditEntry, AuditHead
from service.pagination import decode_cursor, paginate
from service.schemas import AuditEntryRead, AuditVerification, Page

GENESIS = "0" * 64


@dataclass(frozen=True)
class WriteContext:
    """What the audit trail records about the request behind a write."""

    actor: Principal
    request_id: str
    body_hash: str


def entry_hash(entry: AuditEntry) -> str:
    fields = {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "key_id": entry.key_id,
        "organization": entry.organization,
        "action": entry.action,
        "subject": entry.subject,
        "request_id": entry.request_id,
        "body_hash": entry.body_hash,
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def append(session: Session, context: WriteContext, action: str, subject: str) -> AuditEntry:
    """Add one entry to the chain in the caller's transaction."""
    head = session.exec(
        select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    ).one()
    entry = AuditEntry(
        seq=head.seq + 1,
        at=utcnow(),
        key_id=context.actor.key_id,
        organization=context.actor.organization,
        action=action,
        subject=subject,
        request_id=context.request_id,
        body_hash=context.body_hash,
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = entry_hash(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.add(head)
    session.flush()
    return entry


def _read(entry: AuditEntry) -> AuditEntryRead:
    return AuditEntryRead.model_validate(entry, from_attributes=True)


def list_entries(
    session: Session,
    limit: int,
    cursor: str | None,
    *,
    action: str | None = None,
    subject: str | None = None,
    organization: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEntryRead]:
    after = decode_cursor(cursor, int)
    query = select(AuditEntry).order_by(col(AuditEntry.seq)).limit(limit + 1)
    if after is not None:
        query = query.where(col(AuditEntry.seq) > after)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if organization is not None:
        query = query.where(AuditEntry.organization == organization)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if until is not None:
        query = query.where(col(AuditEntry.at) < until)
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda e: e.seq)
    return Page(items=[_read(e) for e in rows], next_cursor=next_cursor)


def verify_chain(session: Session) -> AuditVerification:
    """Recompute every hash in order; the first entry that does not hold is named."""
    previous = GENESIS
    count = 0
    expected_seq = 1
    for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))):
        count += 1
        if entry.seq != expected_seq or entry.prev_hash != previous or entry_hash(entry) != entry.hash:
            return AuditVerification(ok=False, entries=count, head=previous, first_bad=entry.seq)
        previous = entry.hash
        expected_seq += 1
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    if head.seq != count or head.hash != previous:
        return AuditVerification(ok=False, entries=count, head=previous, first_bad=count + 1)
    return AuditVerification(ok=True, entries=count, head=previous, first_bad=None)
