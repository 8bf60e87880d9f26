"""Who may read what (issue 12): each organization sees its own material; admins and auditors see everything.

An organization's keys see in full the lots it holds, the events at its own facilities and the
transfers that delivered to it. Another organization's lot, event or trace node is as if it did
not exist: 404 on a direct read (never 403, which would confirm it exists), absent from lists,
and "no lot" when named as an input. Answers about a SKU stay readable by every key, but list
another organization's lots without id or code.
"""

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from service.access import READ_AUDIT, Principal
from service.schemas import LotAnswer
from service.schemas.disclosure import DisclosureLot

# The lots an answer lists (a SKU answer's, a disclosure's): each names its holder.
L = TypeVar("L", LotAnswer, DisclosureLot)


def sees_everything(actor: Principal) -> bool:
    """The operator's admin keys and auditors."""
    return actor.role in READ_AUDIT


def issued_by_own(actor: Principal, organization: Any) -> Any:
    """The SQL condition for records kept with the organization whose key made them (attestations, capture jobs):
    all for admins and auditors, else its own organization's; none for a key of no organization."""
    if sees_everything(actor):
        return sa.true()
    return organization == actor.organization if actor.organization is not None else sa.false()


def sees_lot(actor: Principal, holder_pk: int) -> bool:
    """A lot is seen by the organization that holds it (and by those who see everything)."""
    return sees_everything(actor) or actor.organization_pk == holder_pk


def sees_holder(actor: Principal, holder_code: str) -> bool:
    """``sees_lot`` for a lot known by its holder's code (as answers list them)."""
    return sees_everything(actor) or actor.organization == holder_code


def sees_event(actor: Principal, facility_holder_pk: int, delivered_to: set[int]) -> bool:
    """An event is seen at its own facility's organization, and by the organizations a transfer delivered to."""
    own = actor.organization_pk == facility_holder_pk or actor.organization_pk in delivered_to
    return sees_everything(actor) or own


def lots_seen_by(lots: Sequence[L], actor: Principal) -> list[L] | None:
    """An answer's listed lots as ``actor`` may read them: those it may not see without ``id`` and ``code``.

    None when nothing is hidden, so that a remembered answer is given as it is, not copied.
    """
    if sees_everything(actor) or all(sees_holder(actor, lot.organization) for lot in lots):
        return None
    hidden = {"id": None, "code": None}
    return [lot if sees_holder(actor, lot.organization) else lot.model_copy(update=hidden) for lot in lots]
