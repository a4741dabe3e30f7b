"""What SQLite's planner says it will read for a report's query."""

import sqlalchemy as sa
from sqlalchemy.orm import Session


def sqlite_plan(session: Session, statement: sa.Select) -> str:
    """``EXPLAIN QUERY PLAN`` of ``statement`` on SQLite, its steps joined.

    The statement runs once so that SQLAlchemy renders its SQL and binds its
    values as it would for the report; that exact text is then explained."""
    connection = session.connection()
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, sql, params, context, executemany) -> None:
        sent.append((sql, params))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        connection.execute(statement).all()
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    sql, params = sent[-1]
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
    return " | ".join(str(row[-1]) for row in rows)
