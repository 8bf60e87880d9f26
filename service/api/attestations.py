"""Attestations: an answer signed by the service and kept, so an auditor can prove later what it said."""

from service.api.common import v1_router

router = v1_router("attestations")
