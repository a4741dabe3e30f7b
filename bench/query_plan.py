"""The plan the database picks for the credit list, as the server runs it.

The SQL is not rebuilt here: the same service call the endpoint makes runs
in-process with a ``before_cursor_execute`` listener, and each statement it
sent that reads ``billing_credits`` is explained with the same parameters.
"""

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.credits import service as credits
from creditdesk.credits.queries import CreditFilters
from creditdesk.db import create_engine, make_session_factory, read_only
from creditdesk.users.models import User

Statement = tuple[str, Any]


def list_page(session: Session, user: User, *, cursor: str | None, limit: int) -> None:
    """What ``GET /api/v1/credits?limit=...&cursor=...`` asks the service for.

    The one place that knows the service's signature.
    """
    credits.list_credits(
        session, user=user, filters=CreditFilters(), cursor=cursor, limit=limit
    )


def explain_list(
    url: str, *, user_id: int, cursor: str | None, limit: int
) -> list[str]:
    """The statements ``list_page`` runs for ``user_id``, each with its plan."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        with read_only(make_session_factory(engine)()) as session:
            user = session.get_one(User, user_id)
            statements = captured(
                engine,
                lambda: list_page(session, user, cursor=cursor, limit=limit),
            )
            lines: list[str] = []
            for statement, parameters in statements:
                if "billing_credits" in statement:
                    lines.append(_short(statement))
                    lines.extend(plan(session.connection(), statement, parameters))
            return lines
    finally:
        engine.dispose()


def captured(engine: sa.Engine, call: Callable[[], object]) -> list[Statement]:
    """Every statement (and its driver parameters) ``call`` sends to ``engine``."""
    statements: list[Statement] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any):
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    return statements


def plan(connection: sa.Connection, statement: str, parameters: Any) -> list[str]:
    """SQLite's query plan tree, or PostgreSQL's executed plan with buffers."""
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        ).all()
        return [row[0] for row in rows]

    rows = connection.exec_driver_sql(
        "EXPLAIN QUERY PLAN " + statement, parameters
    ).all()
    depth = {0: 0}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, 0) + 1
        lines.append("  " * (depth[node] - 1) + detail)
    return lines


def _short(statement: str) -> str:
    # The column list is long and says nothing about the plan.
    text = " ".join(statement.split())
    return re.sub(r"^SELECT .+? FROM ", "SELECT ... FROM ", text, count=1)
