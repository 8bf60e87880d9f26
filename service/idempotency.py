"""Idempotent retries: a POST's answer kept for 24 hours under the Idempotency-Key its API key sent.

The key is claimed once the caller is known, inside the request's own transaction: the write
and its claim commit or roll back together, and a twin that arrives meanwhile, on any worker,
waits for the write lock or finds the claim (409) instead of running twice. The answer is
stored, in a transaction of its own, before it is sent, so a retry that follows an answer
always finds it. Storing an answer also deletes a bounded batch of expired records.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from service.db import transaction, utcnow
from service.models import IdempotencyRecord

KEEP_FOR = timedelta(hours=24)
SWEEP_BATCH = 100  # expired records deleted per stored answer: bounded work, and more than any rate of new ones
NEVER_STORED_FIELDS = ("key",)  # an API key's secret is shown once and never kept, here neither


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "mismatch", "in_flight"]
    record: IdempotencyRecord | None = None


def _forget_expired(session: Session, scope: str, key: str, now: datetime) -> None:
    session.exec(
        delete(IdempotencyRecord).where(
            col(IdempotencyRecord.principal) == scope,
            col(IdempotencyRecord.key) == key,
            col(IdempotencyRecord.created_at) < now - KEEP_FOR,
        )
    )


def _record(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.exec(
        select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key)
    ).first()


def claim(session: Session, scope: str, key: str, request_hash: str) -> Claim:
    """Take the key for this request in its transaction, or say why not: a stored answer, another request, running.

    ``scope`` is the authenticated API key's id (``Principal.scope``), never anything the caller sent.
    """
    now = utcnow()
    _forget_expired(session, scope, key, now)
    existing = _record(session, scope, key)
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyRecord(
                        principal=scope, key=key, request_hash=request_hash, state="in_flight", created_at=now
                    )
                )
        except IntegrityError:
            return Claim("in_flight")  # a twin claimed it a moment ago, on another worker (PostgreSQL)
        return Claim("new")
    if existing.request_hash != request_hash:
        return Claim("mismatch")
    if existing.state != "done":
        return Claim("in_flight")
    return Claim("replay", existing)


def _redacted(body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", errors="replace")
    if not content_type.startswith("application/json"):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if isinstance(document, dict):
        for name in NEVER_STORED_FIELDS:
            if name in document:
                document[name] = None
    return json.dumps(document, separators=(",", ":"))


def sweep(session: Session, now: datetime) -> int:
    """Delete up to ``SWEEP_BATCH`` records older than 24 hours, oldest first; how many went."""
    expired = (
        select(IdempotencyRecord.pk)
        .where(col(IdempotencyRecord.created_at) < now - KEEP_FOR)
        .order_by(col(IdempotencyRecord.created_at))
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)  # PostgreSQL: two sweeps never wait on each other; SQLite has one writer
    )
    pks = list(session.exec(expired))
    if pks:
        session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.pk).in_(pks)))
    return len(pks)


def finish(
    engine: Engine, scope: str, key: str, request_hash: str, status: int, content_type: str, body: bytes
) -> None:
    """Keep the answer for replay, committed when this returns; forget the claim when nothing really ran (5xx)."""
    try:
        with transaction(engine, write=True) as session:
            now = utcnow()
            _forget_expired(session, scope, key, now)
            record = _record(session, scope, key)
            if status == 401 or status >= 500:
                if record is not None and record.state != "done":
                    session.delete(record)
            elif record is None or record.state != "done":
                if record is None:  # a refused request rolled its claim back with everything else
                    record = IdempotencyRecord(
                        principal=scope, key=key, request_hash=request_hash, state="done", created_at=now
                    )
                record.state = "done"
                record.status_code = status
                record.content_type = content_type
                record.response_body = _redacted(body, content_type)
                session.add(record)
            sweep(session, now)
    except IntegrityError:
        pass  # a twin's refusal was stored first: the same request, the same answer


def release(engine: Engine, scope: str, key: str) -> None:
    """Drop an in-flight claim whose request failed before answering."""
    with transaction(engine, write=True) as session:
        session.exec(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.principal) == scope,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.state) == "in_flight",
            )
        )
