"""Organizations, facilities and SKUs as the API takes and gives them."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import Code, Contract, Country, Gln, Gtin, Name, Stage


class OrganizationCreate(Contract):
    code: Code
    name: Name
    country: Country
    gln: Gln | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "LYNAS", "name": "Lynas Rare Earths", "country": "AU"}]}
    )


class OrganizationRead(BaseModel):
    code: str
    name: str
    country: str
    gln: str | None = Field(None, exclude_if=lambda v: v is None)
    created_at: datetime


class FacilityCreate(Contract):
    code: Code
    name: Name
    organization: Code
    country: Country
    stages: list[Stage] = Field(description="Stages performed here; empty for a warehouse.")
    gln: Gln | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "KUANTAN",
                    "name": "Lynas Malaysia",
                    "organization": "LYNAS",
                    "country": "MY",
                    "stages": ["refining"],
                }
            ]
        }
    )


class FacilityRead(BaseModel):
    code: str
    name: str
    organization: str
    country: str
    stages: list[Stage]
    gln: str | None = Field(None, exclude_if=lambda v: v is None)
    created_at: datetime


class SkuCreate(Contract):
    sku: Code
    name: Name
    organization: Code
    gtin: Gtin | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": "EV-MOTOR-200",
                    "name": "EV traction motor 200 kW",
                    "organization": "ACME",
                    "gtin": "4006381333931",
                }
            ]
        }
    )


class SkuRead(BaseModel):
    sku: str
    name: str
    organization: str
    gtin: str | None
    created_at: datetime
