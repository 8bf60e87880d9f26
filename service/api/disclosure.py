"""The auditor's pages for a SKU: the s.857 disclosure, the flow of rare earths, and a printable report."""

from service.api.common import v1_router

router = v1_router("disclosure")
