"""Who may write into whose books: a SKU's makers, an organization's suppliers."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import Code, Contract


class PartnerCreate(Contract):
    organization: Code = Field(description="The organization's code.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"organization": "JLMAG"}]})


class MakerRead(BaseModel):
    """An organization the SKU's owner lets make the SKU: its production lots may name the SKU."""

    sku: str
    organization: str
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"sku": "EV-MOTOR-200", "organization": "ACME", "created_at": "2026-12-01T09:30:00Z"}]
        }
    )


class SupplierRead(BaseModel):
    """An organization whose transfers into the receiving organization's facilities are accepted."""

    organization: str = Field(description="The receiving organization.")
    supplier: str = Field(description="The organization allowed to deliver to it.")
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"organization": "ACME", "supplier": "SHINETSU", "created_at": "2026-12-01T09:30:00Z"}]
        }
    )
