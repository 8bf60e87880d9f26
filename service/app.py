"""The ASGI application: routers, problem handlers, body limit, offline docs."""

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from service import __version__
from service.api import catalog, events, health, lots
from service.api.problems import BodyLimit, install_problem_handlers
from service.config import Settings, get_settings
from service.db import create_db_engine

DESCRIPTION = """\
Lodestone traces rare earths from mine to refiner to metal and magnet maker to
finished product, and answers **does this SKU contain Chinese-origin rare
earths, how much, and through which stages?**, per element, per stage, and
honest about what nobody has shown (`unknown`).

* Every `/v1` route needs an API key: `Authorization: Bearer <key>` or
  `X-API-Key`. Use **Authorize** above.
* Decimals are JSON strings and exact; errors are RFC 9457 problem details.
* Origin semantics: `ORIGIN.md` of the contract.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPIOffline(
        title="Lodestone",
        version=__version__,
        description=DESCRIPTION,
        strict_content_type=False,
        swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
    )
    app.state.settings = settings
    app.state.engine = create_db_engine(settings)
    app.state.admin_keys = settings.accepted_admin_keys()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for router in (
        health.router,
        catalog.router,
        catalog.facility_router,
        catalog.sku_router,
        events.router,
        lots.router,
        lots.answer_router,
    ):
        app.include_router(router)
    return app
