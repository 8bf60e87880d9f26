"""GS1 EPCIS 2.0 query and export: Lodestone's events as EPCIS documents."""

from service.api.common import v1_router

router = v1_router("epcis")
