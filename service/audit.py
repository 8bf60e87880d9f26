"""The audit trail: every successful write, appended in its own transaction, chained by SHA-256.

Each entry's hash covers its fields and the previous entry's hash, so changing,
removing or reordering any entry breaks every hash after it. Writers lock the one
``audit_head`` row to append, so the chain never forks under concurrency. There is
no code path that updates or deletes an entry.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from service.access import Principal
from service.db import utcnow
from service.models import AuditEntry, AuditHead
from service.pagination import decode_cursor, paginate
from service.schemas import AuditEntryRead, AuditVerification, Page

GENESIS = "0" * 64
AUDIT_ENTRY = SQLModel.metadata.tables["audit_entry"]


@dataclass(frozen=True)
class WriteContext:
    """What the audit trail records about the request behind a write."""

    actor: Principal
    request_id: str  # the server's own id for the request, unique; never the caller's X-Request-ID
    body_hash: str


HASHED_FIELDS = ("seq", "at", "key_id", "organization", "action", "subject", "request_id", "body_hash", "prev_hash")


def _hash(fields: dict[str, Any]) -> str:
    hashed = {name: fields[name] for name in HASHED_FIELDS} | {"at": fields["at"].isoformat()}
    return hashlib.sha256(json.dumps(hashed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    return _hash({name: getattr(entry, name) for name in HASHED_FIELDS})


def _locked_head(session: Session) -> AuditHead:
    return session.exec(
        select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    ).one()


def head(session: Session) -> tuple[int, str]:
    """The chain's last entry (its seq and hash), locked: nobody appends until the caller's transaction ends."""
    locked = _locked_head(session)
    return locked.seq, locked.hash


def append(session: Session, context: WriteContext, action: str, subject: str) -> None:
    """Add one entry to the chain in the caller's transaction."""
    append_all(session, context, action, [subject])


def append_all(session: Session, context: WriteContext, action: str, subjects: Sequence[str]) -> None:
    """Add one entry per subject to the chain, in order, in the caller's transaction."""
    head = _locked_head(session)
    entries: list[dict[str, Any]] = []
    seq, previous = head.seq, head.hash
    for subject in subjects:
        seq += 1
        entry: dict[str, Any] = {
            "seq": seq,
            "at": utcnow(),
            "key_id": context.actor.key_id,
            "organization": context.actor.organization,
            "action": action,
            "subject": subject,
            "request_id": context.request_id,
            "body_hash": context.body_hash,
            "prev_hash": previous,
        }
        previous = entry["hash"] = _hash(entry)
        entries.append(entry)
    if entries:
        session.execute(sa.insert(AUDIT_ENTRY), entries)
    head.seq, head.hash = seq, previous
    session.add(head)
    session.flush()


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
