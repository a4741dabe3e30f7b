"""Exchange rates administrators maintain, dated, for converted report totals."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, utcnow_column


class ExchangeRate(Base):
    """One unit of ``base`` is worth ``rate`` units of ``quote`` from
    ``effective_on`` until the pair's next rate.

    The rate is kept as its decimal text: SQLite has no decimal type and would
    store a NUMERIC column as a float, and a report must not round through one.
    """

    __tablename__ = "exchange_rates"
    __table_args__ = (
        sa.UniqueConstraint("base", "quote", "effective_on"),
        sa.CheckConstraint("base <> quote", name="distinct_currencies"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    base: Mapped[str] = mapped_column(sa.String(3))
    quote: Mapped[str] = mapped_column(sa.String(3))
    effective_on: Mapped[date]
    rate: Mapped[str] = mapped_column(sa.String(40))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()
