"""The app as the benchmark serves it: the real app plus a bare endpoint.

``POST /bench/bare`` validates the same body as ``POST /api/v1/credits``
through the same session dependency and inserts one row, so the ratio of the
two shows what the credit use case costs on top of FastAPI, the session and
one write. Its table belongs to the benchmark, not to the migrations.
"""

import os
from datetime import datetime

import sqlalchemy as sa
from fastapi import FastAPI, status
from pydantic import BaseModel

from creditdesk.api.deps import DbSession, Now
from creditdesk.app import create_app
from creditdesk.config import Settings
from creditdesk.credits.endpoints import router as credits_router
from creditdesk.credits.schemas import CreditIn
from creditdesk.db import BigId, UTCDateTime
from creditdesk.logs import configure_logging

BARE_PATH = "/bench/bare"

METADATA = sa.MetaData()

BARE_ROWS = sa.Table(
    "bench_bare_rows",
    METADATA,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("case_id", BigId, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("justification", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)


class BareOut(BaseModel):
    id: int
    case_id: int
    amount_minor: int
    currency: str
    type: str
    reason: str
    justification: str
    created_at: datetime


def create() -> FastAPI:
    """The uvicorn factory: settings from ``CREDITDESK_*``, worker on."""
    settings = Settings()
    # The same start-up as `creditdesk serve`, so logging costs what it would.
    configure_logging(level=settings.log_level, json=settings.json_logs)
    settings.check_for_production()

    # CREDITDESK_BENCH_WORKER=0 leaves the outbox to a separate worker, to see
    # what the embedded one costs the API.
    worker = os.environ.get("CREDITDESK_BENCH_WORKER", "1") != "0"
    app = create_app(settings, start_worker=worker, freeze_startup_objects=True)
    # checkfirst: CREATE TABLE only when it is missing.
    METADATA.create_all(app.state.engine, checkfirst=True)
    app.add_api_route(
        BARE_PATH,
        bare,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        tags=["bench"],
    )
    _route_beside_credits(app)
    return app


def _route_beside_credits(app: FastAPI) -> None:
    """Move the bare route, added last, to just before the credits router.

    FastAPI tries the routes in order, so a route after all the others pays
    for some eighty failed matches per request that POST /api/v1/credits
    does not, which flattered the ratio; beside it, both pay the same.
    """
    routes = app.router.routes
    bare_route = routes.pop()
    index = next(
        (
            i
            for i, route in enumerate(routes)
            if getattr(route, "original_router", None) is credits_router
        ),
        len(routes),
    )
    routes.insert(index, bare_route)


def bare(body: CreditIn, session: DbSession, now: Now) -> BareOut:
    """Validate a credit body, insert one row and return it."""
    row = session.execute(
        sa.insert(BARE_ROWS)
        .values(
            case_id=body.case_id,
            amount_minor=body.amount_minor,
            currency=body.currency,
            type=body.type,
            reason=body.reason,
            justification=body.justification,
            created_at=now,
        )
        .returning(*BARE_ROWS.c)
    ).one()
    return BareOut.model_validate(row._asdict())
