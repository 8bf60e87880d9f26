"""Who may write into whose books: a SKU's makers and an organization's suppliers, kept by its managers."""

from typing import Annotated

from fastapi import Path, Response

from service import partners
from service.api.catalog import SkuPath
from service.api.common import problems, v1_router, write_problems
from service.api.deps import Reader, SessionDep, WriteContextDep
from service.schemas.partners import MakerRead, PartnerCreate, SupplierRead

maker_router = v1_router("skus")
supplier_router = v1_router("organizations")

OrganizationPath = Annotated[str, Path(description="An organization's code.", examples=["ACME"])]
PartnerPath = Annotated[str, Path(description="The maker's or supplier's organization code.", examples=["JLMAG"])]


@maker_router.get("/skus/{sku}/makers", summary="List a SKU's makers", responses=problems(404))
def list_makers(sku: SkuPath, session: SessionDep, actor: Reader) -> list[MakerRead]:
    """The organizations besides its owner whose production lots may name this SKU (owner's keys, admin, auditor)."""
    return partners.list_makers(session, sku, actor)


@maker_router.post(
    "/skus/{sku}/makers",
    status_code=201,
    summary="Let an organization make a SKU",
    responses=write_problems("The organization already makes it, or owns it.") | problems(404),
)
def add_maker(
    sku: SkuPath, body: PartnerCreate, session: SessionDep, actor: Reader, context: WriteContextDep
) -> MakerRead:
    """Let another organization record production lots of this SKU (the owner's manager, or an admin)."""
    return partners.add_maker(session, sku, body.organization, actor, context)


@maker_router.delete(
    "/skus/{sku}/makers/{organization}", status_code=204, summary="Stop an organization making a SKU",
    responses=problems(404),
)  # fmt: skip
def remove_maker(
    sku: SkuPath, organization: PartnerPath, session: SessionDep, actor: Reader, context: WriteContextDep
) -> Response:
    """From now on its production lots may not name this SKU; lots already recorded stay (the owner's manager)."""
    partners.remove_maker(session, sku, organization, actor, context)
    return Response(status_code=204)


@supplier_router.get(
    "/organizations/{code}/suppliers", summary="List an organization's suppliers", responses=problems(404)
)
def list_suppliers(code: OrganizationPath, session: SessionDep, actor: Reader) -> list[SupplierRead]:
    """The organizations whose transfers into this organization's facilities are accepted (its keys, admin, auditor)."""
    return partners.list_suppliers(session, code, actor)


@supplier_router.post(
    "/organizations/{code}/suppliers",
    status_code=201,
    summary="Accept deliveries from a supplier",
    responses=write_problems("The organization already supplies it, or is itself.") | problems(404),
)
def add_supplier(
    code: OrganizationPath, body: PartnerCreate, session: SessionDep, actor: Reader, context: WriteContextDep
) -> SupplierRead:
    """Accept transfers from this organization into your facilities (your organization's manager, or an admin)."""
    return partners.add_supplier(session, code, body.organization, actor, context)


@supplier_router.delete(
    "/organizations/{code}/suppliers/{organization}", status_code=204, summary="Stop accepting a supplier's deliveries",
    responses=problems(404),
)  # fmt: skip
def remove_supplier(
    code: OrganizationPath, organization: PartnerPath, session: SessionDep, actor: Reader, context: WriteContextDep
) -> Response:
    """From now on its transfers into your facilities are refused; what it delivered stays (your manager)."""
    partners.remove_supplier(session, code, organization, actor, context)
    return Response(status_code=204)
