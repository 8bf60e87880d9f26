"""Idempotent retries: a POST's answer kept for 24 hours under the caller's Idempotency-Key.

The record is claimed before the request runs (``in_flight``), so a duplicate that
arrives meanwhile, on any worker, is told so (409) instead of running twice; the
answer is stored when the request ends. Records live in the database, not in memory.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from service.db import transaction, utcnow
from service.models import IdempotencyRecord

KEEP_FOR = timedelta(hours=24)
NEVER_STORED_FIELDS = ("key",)  # an API key's secret is shown once and never kept, here neither


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "mismatch", "in_flight"]
    record: IdempotencyRecord | None = None


def claim(engine: Engine, principal: str, key: str, request_hash: str) -> Claim:
    """Take the key for this request, or say why not: replay a stored answer, a different request, or running."""
    try:
        with transaction(engine, write=True) as session:
            now = utcnow()
            session.exec(
                delete(IdempotencyRecord).where(
                    col(IdempotencyRecord.principal) == principal,
                    col(IdempotencyRecord.key) == key,
                    col(IdempotencyRecord.created_at) < now - KEEP_FOR,
                )
            )
            existing = session.exec(
                select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
            ).first()
            if existing is None:
                session.add(
                    IdempotencyRecord(
                        principal=principal, key=key, request_hash=request_hash, state="in_flight", created_at=now
                    )
                )
                return Claim("new")
    except IntegrityError:
        return Claim("in_flight")  # a twin claimed it a moment ago, on another worker
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


def finish(engine: Engine, principal: str, key: str, status: int, content_type: str, body: bytes) -> None:
    """Keep the answer for replay; forget the claim when the request did not really run (401, 5xx)."""
    with transaction(engine, write=True) as session:
        record = session.exec(
            select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
        ).first()
        if record is None:
            return
        if status == 401 or status >= 500:
            session.delete(record)
            return
        record.state = "done"
        record.status_code = status
        record.content_type = content_type
        record.response_body = _redacted(body, content_type)
        session.add(record)


def release(engine: Engine, principal: str, key: str) -> None:
    """Drop an in-flight claim whose request failed before answering."""
    with transaction(engine, write=True) as session:
        session.exec(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.principal) == principal,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.state) == "in_flight",
            )
        )
