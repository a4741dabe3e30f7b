"""The FastAPI application: routers, error handlers and the embedded worker."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from creditdesk import __version__
from creditdesk.api import problems
from creditdesk.api.middleware import RequestIdMiddleware
from creditdesk.clock import Clock, system_clock
from creditdesk.config import Settings, get_settings
from creditdesk.db import create_engine, make_session_factory

API_PREFIX = "/api/v1"


def _routers() -> list:
    from creditdesk.accounts.endpoints import router as accounts
    from creditdesk.approvals.endpoints import router as approvals
    from creditdesk.audit.endpoints import router as audit
    from creditdesk.cases.endpoints import router as cases
    from creditdesk.credits.endpoints import router as credits

    return [accounts, cases, credits, approvals, audit]


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    start_worker: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or create_engine(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if start_worker:
            from creditdesk.outbox.worker import Worker

            worker = Worker(app.state.session_factory, clock=clock, settings=settings)
            worker.start()
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
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.clock = clock

    app.add_middleware(RequestIdMiddleware)
    problems.install(app)
    for router in _routers():
        app.include_router(router, prefix=API_PREFIX)
    _add_health(app)
    return app


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
