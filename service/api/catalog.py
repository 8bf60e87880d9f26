"""Organizations, facilities and SKUs: who holds material, where it is processed, what is sold."""

from typing import Annotated

from fastapi import Path, Query, Request, Response

from service import audit, facilities, organizations, skus
from service.api.common import problems, sent, v1_router, write_problems
from service.api.deps import Admin, Reader, SessionDep, WriteContextDep, Writer, run_database_work
from service.pagination import DEFAULT_LIMIT, MAX_LIMIT
from service.schemas import (
    CODE_PATTERN,
    FacilityCreate,
    FacilityRead,
    OrganizationCreate,
    OrganizationRead,
    Page,
    SkuCreate,
    SkuRead,
    Stage,
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 500.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
CodePath = Annotated[str, Path(description="The caller's code.", examples=["LYNAS"])]
SkuPath = Annotated[str, Path(description="The SKU, as its owner registered it.", examples=["EV-MOTOR-200"])]

router = v1_router("organizations")
facility_router = v1_router("facilities")
sku_router = v1_router("skus")


@router.post(
    "/organizations",
    status_code=201,
    summary="Register an organization",
    responses=write_problems("An organization with this code exists."),
)
def create_organization(
    body: OrganizationCreate, session: SessionDep, _actor: Admin, context: WriteContextDep
) -> OrganizationRead:
    """Register a company that holds facilities, lots or SKUs (its code is unique). Admin keys only."""
    created = organizations.create_organization(session, body)
    audit.append(session, context, "organization.created", created.code)
    return created


@router.get(
    "/organizations", summary="List organizations", response_model=Page[OrganizationRead], responses=problems(422)
)
async def list_organizations(
    request: Request, session: SessionDep, _actor: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """List registered companies, by code."""
    return sent(await run_database_work(request, organizations.list_organizations, session, limit, cursor))


@router.get("/organizations/{code}", summary="Get an organization", responses=problems(404))
def get_organization(code: CodePath, session: SessionDep, _actor: Reader) -> OrganizationRead:
    """One company, by its code."""
    return organizations.to_read(organizations.get_organization(session, code))


@facility_router.post(
    "/facilities",
    status_code=201,
    summary="Register a facility",
    responses=write_problems("A facility with this code exists."),
)
def create_facility(body: FacilityCreate, session: SessionDep, actor: Writer, context: WriteContextDep) -> FacilityRead:
    """Register a site, its country and the processing stages it performs (none for a warehouse)."""
    created = facilities.create_facility(session, body, actor)
    audit.append(session, context, "facility.created", created.code)
    return created


@facility_router.get(
    "/facilities", summary="List facilities", response_model=Page[FacilityRead], responses=problems(422)
)
async def list_facilities(
    request: Request,
    session: SessionDep,
    _actor: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    organization: Annotated[
        str | None, Query(pattern=CODE_PATTERN, description="Only this organization's facilities.")
    ] = None,
    country: Annotated[
        str | None, Query(pattern="^[A-Z]{2}$", description="Only facilities in this country.", examples=["CN"])
    ] = None,
    stage: Annotated[Stage | None, Query(description="Only facilities performing this stage.")] = None,
) -> Response:
    """List sites, filtered by organization, country or stage performed."""
    listed = facilities.list_facilities
    return sent(await run_database_work(request, listed, session, limit, cursor, organization, country, stage))


@facility_router.get("/facilities/{code}", summary="Get a facility", responses=problems(404))
def get_facility(code: CodePath, session: SessionDep, _actor: Reader) -> FacilityRead:
    """One site, with its country and stages."""
    return facilities.get_facility(session, code)


@sku_router.post(
    "/skus", status_code=201, summary="Register a SKU", responses=write_problems("A SKU with this code exists.")
)
def create_sku(body: SkuCreate, session: SessionDep, actor: Writer, context: WriteContextDep) -> SkuRead:
    """Register a product or component a buyer can ask about (GTIN optional, check digit verified)."""
    created = skus.create_sku(session, body, actor)
    audit.append(session, context, "sku.created", created.sku)
    return created


@sku_router.get("/skus", summary="List SKUs", response_model=Page[SkuRead], responses=problems(422))
async def list_skus(
    request: Request, session: SessionDep, _actor: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """List registered SKUs, by SKU code."""
    return sent(await run_database_work(request, skus.list_skus, session, limit, cursor))


@sku_router.get("/skus/{sku}", summary="Get a SKU", responses=problems(404))
def get_sku(sku: SkuPath, session: SessionDep, _actor: Reader) -> SkuRead:
    """One SKU and the organization that owns it."""
    return skus.get_sku(session, sku)
