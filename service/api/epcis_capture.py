"""GS1 EPCIS 2.0 capture: EPCIS documents recorded as Lodestone events."""

from service.api.common import v1_router

router = v1_router("epcis")
