"""The FastAPI application: routers, error handlers, the web console and the
embedded worker."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
import sqlalchemy as sa
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from creditdesk import __version__
from creditdesk.access import endpoints as sharing
from creditdesk.access import field_cache
from creditdesk.access.service import TokenCache
from creditdesk.accounts import endpoints as accounts
from creditdesk.admin import endpoints as admin
from creditdesk.api import problems
from creditdesk.api.middleware import RequestIdMiddleware
from creditdesk.api.traffic import Traffic, TrafficMiddleware, embedded_give_way
from creditdesk.approvals import endpoints as approvals
from creditdesk.audit import endpoints as audit
from creditdesk.auth import endpoints as auth
from creditdesk.cases import endpoints as cases
from creditdesk.clock import Clock, system_clock
from creditdesk.config import Settings, get_settings
from creditdesk.credits import endpoints as credits
from creditdesk.db import create_engine, make_session_factory
from creditdesk.events import endpoints as events
from creditdesk.inbox import endpoints as inbox
from creditdesk.inbox.settings import InboxSettings
from creditdesk.invoices import endpoints as invoices
from creditdesk.outbox import endpoints as outbox
from creditdesk.outbox.worker import Worker
from creditdesk.reconciliation import endpoints as reconciliation
from creditdesk.reports import endpoints as reports
from creditdesk.reports.settings import RoiBaselines
from creditdesk.web import errors as web_errors
from creditdesk.web.routes import ROUTERS as WEB_ROUTERS
from creditdesk.web.zones import ReaderZones

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"
WEB_STATIC = Path(__file__).parent / "web" / "static"


ROUTERS: list[APIRouter] = [
    auth.router,
    accounts.router,
    invoices.router,
    cases.router,
    credits.router,
    sharing.router,
    approvals.router,
    audit.router,
    admin.router,
    events.router,
    outbox.router,
    reconciliation.router,
    inbox.router,
    reports.router,
    reports.rates_router,
]


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    start_worker: bool = False,
    freeze_startup_objects: bool = False,
) -> FastAPI:
    """The app; ``start_worker`` runs the outbox worker in this process, and
    ``freeze_startup_objects`` (for a serving process, not for tests that
    build many apps) spares the garbage collector what start-up built."""
    settings = settings or get_settings()
    engine = engine or create_engine(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if start_worker:
            worker = Worker(
                app.state.session_factory,
                clock=clock,
                settings=settings,
                give_way=embedded_give_way(app.state.traffic, settings),
            )
            worker.start()
        if freeze_startup_objects:
            _freeze_startup_objects()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="creditdesk",
        version=__version__,
        summary="Governed billing credits: policy, approvals, posting and audit.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.clock = clock
    app.state.token_cache = TokenCache(settings.auth_cache_seconds)
    app.state.reader_zones = ReaderZones(
        app.state.session_factory, settings.auth_cache_seconds
    )
    # Callback secrets, read once; a test or an embedding app may replace them.
    app.state.inbox_settings = InboxSettings()
    # The ROI report's baselines, read once; a test may replace them.
    app.state.roi_baselines = RoiBaselines()
    field_cache.configure(settings.field_cache_seconds)

    app.state.traffic = Traffic()
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(TrafficMiddleware, traffic=app.state.traffic)
    problems.install(app)
    web_errors.install(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    _add_health(app)
    _add_docs(app)
    _add_console(app)
    return app


def _freeze_startup_objects() -> None:
    # The modules, models, routes and schemas built at start-up are some
    # 220,000 objects that live as long as the process. Left to the cyclic
    # collector, every full collection walks them all, a 60-80 ms pause for
    # every request in flight, several times a minute under load; frozen,
    # a full collection walks only what requests left behind. Garbage made
    # before the freeze is collected first, as it could never be after.
    gc.collect()
    gc.freeze()
    log.info("server.startup_objects_frozen", objects=gc.get_freeze_count())


def _add_console(app: FastAPI) -> None:
    # The web console's pages sit outside /api/v1; its static files are
    # mounted after /static/swagger, which would otherwise be shadowed.
    for router in WEB_ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_STATIC), name="static")


def _add_docs(app: FastAPI) -> None:
    # Swagger UI from the installed package, not a CDN: the service must work
    # on a network with no way out.
    app.mount(
        "/static/swagger",
        StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
        name="swagger",
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="creditdesk API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png",
        )


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """The database answers; a load balancer should route here only then."""
        try:
            with request.app.state.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})
