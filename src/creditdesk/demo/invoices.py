"""The demo accounts' last three monthly invoices, so the leakage report has
revenue to measure credits against.

Each is issued on the first of the month for the month before, at a price
per product (five times it for an account on a business plan). An
account's latest invoice carries the reference its demo case disputes,
where it has one. Building twice changes nothing: an invoice is
looked up by (account, reference) before it is recorded.
"""

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.accounts.models import Account
from creditdesk.actors import Actor
from creditdesk.invoices import service as invoices
from creditdesk.invoices.models import Invoice
from creditdesk.money import format_amount, parse_amount
from creditdesk.users.models import User

MONTHS = 3
PRICES = {"broadband": "42.00", "mobile": "18.50", "tv": "35.99", None: "9.99"}
BUSINESS_TIMES = 5
# The sequence of an account's latest invoice when no case names it.
LATEST_SEQUENCE = 12


def build_invoices(
    session: Session,
    by_number: dict[str, Account],
    *,
    last_refs: dict[str, str],
    plans: dict[str, tuple[str | None, bool]],
    recorder: User,
    actor: Actor,
    now: datetime,
) -> int:
    """Record the invoices that are missing; how many were recorded.

    ``plans`` gives each account number its product and whether it is a
    business plan; ``last_refs`` the reference its latest invoice takes."""
    created = 0
    for number, account in by_number.items():
        amount = _price(account, *plans[number])
        latest = _latest_sequence(last_refs.get(number))
        for back, issued_on in enumerate(_issue_days(now.date())):
            reference = f"INV-{number[-4:]}-{latest - back:04d}"
            if _exists(session, account.id, reference):
                continue
            period_end = issued_on - timedelta(days=1)
            invoices.record_invoice(
                session,
                user=recorder,
                account_id=account.id,
                reference=reference,
                issued_on=issued_on,
                period_start=period_end.replace(day=1),
                period_end=period_end,
                amount=amount,
                currency=account.currency,
                actor=actor,
                now=now,
            )
            created += 1
    return created


def _price(account: Account, product: str | None, business: bool) -> str:
    minor = parse_amount(PRICES[product], account.currency)
    return format_amount(minor * (BUSINESS_TIMES if business else 1), account.currency)


def _latest_sequence(reference: str | None) -> int:
    return int(reference.rsplit("-", 1)[1]) if reference else LATEST_SEQUENCE


def _issue_days(today: date) -> list[date]:
    """The first of this month and of the months before it, newest first."""
    days = [today.replace(day=1)]
    while len(days) < MONTHS:
        days.append((days[-1] - timedelta(days=1)).replace(day=1))
    return days


def _exists(session: Session, account_id: int, reference: str) -> bool:
    found = sa.select(Invoice.id).where(
        Invoice.account_id == account_id, Invoice.reference == reference
    )
    return session.scalar(found) is not None
