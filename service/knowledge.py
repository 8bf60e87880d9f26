"""Knowledge time: an answer as the service would have given it at a moment (``as_of``).

Lots, events, prices and rules are only ever added to, and a void only marks rows, so what the
service knew at a moment is still in the database: the lots recorded by then, counted as they
stood then (a lot whose event was voided later was still active), the prices and custom rules
created by then. ``as_of`` is about what the service knew; ``on`` (RULES.md) is the date whose
law and prices apply.
"""

from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import col

from service.db import UTCDateTime, utcnow
from service.errors import NotFound, invalid
from service.models import Event, Lot


def moment(as_of: datetime | None) -> datetime:
    """The moment an answer is given as of: ``as_of``, or now; a moment still to come is refused."""
    now = utcnow()
    if as_of is None:
        return now
    if as_of > now:
        raise invalid("as_of", f"is later than now ({now.isoformat()}): nothing is known of that moment yet")
    return as_of


A = TypeVar("A", bound=BaseModel)


def echoed(answer: A, as_of: datetime | None, moment: datetime) -> A:
    """The answer with the moment it is given as of: ``as_of`` as asked, or the request's own now.

    An answer not asked as of a moment may be a remembered one: it carries the moment it was computed
    at, and each request that gives it again says its own.
    """
    return answer if as_of is not None else answer.model_copy(update={"as_of": moment})


def as_of_param(name: str = "as_of") -> Any:
    return sa.bindparam(name, type_=UTCDateTime())


def lots_known(as_of: Any) -> tuple[Any, ...]:
    """Where-clauses for the lots active at ``as_of`` (a value or bind parameter): recorded by then, not voided yet."""
    voided_later = sa.exists().where(col(Event.pk) == col(Lot.event_pk), col(Event.voided_at) > as_of)
    return col(Lot.recorded_at) <= as_of, sa.or_(col(Lot.status) == "active", voided_later)


def lots_active(as_of: datetime | None) -> tuple[Any, ...]:
    """The lots an answer counts: active now, or active at ``as_of``."""
    return (col(Lot.status) == "active",) if as_of is None else lots_known(as_of)


def not_known(what: str, as_of: datetime | None) -> NotFound:
    """A subject the service did not know (yet) at ``as_of``: as a database holding only that moment would say."""
    when = "" if as_of is None else f" as of {as_of.isoformat()}"
    return NotFound(f"No {what}{when}.")
