"""Facilities: the mines, refineries, metal and magnet plants, factories and warehouses."""

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service.access import OPERATOR, Principal
from service.db import utcnow
from service.errors import Conflict, Invalid, NotFound, invalid
from service.models import Facility, FacilityStage, Organization
from service.organizations import is_organization, referenced_organization
from service.origin import STAGES
from service.pagination import decode_cursor, paginate
from service.schemas import FacilityCreate, FacilityRead, Page, is_code


def facility_stages(session: Session, facility_pks: list[int]) -> dict[int, list[str]]:
    rows = session.exec(select(FacilityStage).where(col(FacilityStage.facility_pk).in_(facility_pks)))
    stages: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        stages[row.facility_pk].append(row.stage)
    return {pk: sorted(values, key=STAGES.index) for pk, values in stages.items()}


def _reads(session: Session, rows: list[tuple[Facility, Organization]]) -> list[FacilityRead]:
    stages = facility_stages(session, [f.pk for f, _ in rows if f.pk is not None])
    return [
        FacilityRead(
            code=f.code,
            name=f.name,
            organization=o.code,
            country=f.country,
            stages=stages.get(f.pk or 0, []),  # type: ignore[arg-type]
            gln=f.gln,
            created_at=f.created_at,
        )
        for f, o in rows
    ]


def is_facility(code: str) -> sa.ColumnElement[bool]:
    """The facility with this code, in any case (through the index on ``lower(code)``)."""
    return sa.func.lower(col(Facility.code)) == code.lower()


def find_facility(session: Session, code: str) -> Facility | None:
    if not is_code(code):
        return None
    return session.exec(select(Facility).where(is_facility(code))).first()


def unknown_facility(code: str, field: str) -> Invalid:
    """A facility named in a request body: unknown is 422, not 404."""
    return invalid(field, f"no facility has the code {code!r}")


def get_facility(session: Session, code: str) -> FacilityRead:
    query = select(Facility, Organization).join(Organization).where(is_facility(code))
    row = session.exec(query).first() if is_code(code) else None
    if row is None:
        raise NotFound(f"No facility has the code {code!r}.")
    return _reads(session, [row])[0]


def create_facility(session: Session, body: FacilityCreate, actor: Principal = OPERATOR) -> FacilityRead:
    org = referenced_organization(session, body.organization)
    actor.require_own(org.pk or 0, "register facilities")
    if find_facility(session, body.code) is not None:
        raise Conflict(f"A facility with the code {body.code!r} already exists (codes ignore case).")
    if body.gln is not None and session.exec(select(Facility).where(Facility.gln == body.gln)).first():
        raise Conflict(f"Another facility already has the GLN {body.gln}.")
    facility = Facility(
        code=body.code,
        name=body.name,
        organization_pk=org.pk or 0,
        country=body.country,
        gln=body.gln,
        created_at=utcnow(),
    )
    session.add(facility)
    session.flush()
    for stage in dict.fromkeys(body.stages):
        session.add(FacilityStage(facility_pk=facility.pk or 0, stage=stage))
    session.flush()
    return _reads(session, [(facility, org)])[0]


def list_facilities(
    session: Session,
    limit: int,
    cursor: str | None,
    organization: str | None = None,
    country: str | None = None,
    stage: str | None = None,
) -> Page[FacilityRead]:
    after = decode_cursor(cursor, str)
    query = select(Facility, Organization).join(Organization).order_by(col(Facility.code)).limit(limit + 1)
    if after is not None:
        query = query.where(Facility.code > after)
    if organization is not None:
        query = query.where(is_organization(organization))
    if country is not None:
        query = query.where(Facility.country == country)
    if stage is not None:
        performs = select(FacilityStage.facility_pk).where(FacilityStage.stage == stage)
        query = query.where(col(Facility.pk).in_(performs))
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda row: row[0].code)
    return Page(items=_reads(session, rows), next_cursor=next_cursor)
