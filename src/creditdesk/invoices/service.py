"""Recording, cancelling and reading invoices; every change is audited.

Billing operations import invoices from the billing system (the API or
``creditdesk invoices add``), so the leakage report can put the credits a
team posted beside the revenue billed to its accounts, and cancel one the
billing system cancelled, which then counts as revenue no more.
"""

from datetime import date, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from creditdesk.access.service import Permission, require
from creditdesk.accounts.service import get_account_for_input
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.errors import Conflict, FieldIssue, NotFound, ValidationFailed
from creditdesk.invoices.models import Invoice, InvoiceStatus
from creditdesk.money import MoneyError, currency_exponent, parse_amount
from creditdesk.users.models import User

log = structlog.get_logger(__name__)


def record_invoice(
    session: Session,
    *,
    user: User,
    account_id: int,
    reference: str,
    issued_on: date,
    amount: str,
    currency: str,
    actor: Actor,
    now: datetime,
    period_start: date | None = None,
    period_end: date | None = None,
) -> Invoice:
    """Record an invoice issued to an account, in the account's currency.

    422 naming the field at fault (an unknown account, another currency, an
    amount that is not a positive decimal in it, a period ending before it
    starts); 409 when the account already has an invoice with ``reference``.
    """
    require(user, Permission.MANAGE_ACCOUNTS)
    # Locked, so a concurrent move of the account to another team cannot
    # leave this invoice with the team it had before.
    account = get_account_for_input(session, account_id, lock=True)
    minor = _amount(amount, currency, account.currency)
    reference = _reference(reference)
    if period_start and period_end and period_end < period_start:
        raise ValidationFailed.on("period_end", "period_end is before period_start")
    if _existing(session, account.id, reference) is not None:
        raise _duplicate(account.number, reference)

    invoice = Invoice(
        account_id=account.id,
        team_id=account.team_id,
        reference=reference,
        issued_on=issued_on,
        period_start=period_start,
        period_end=period_end,
        amount_minor=minor,
        currency=account.currency,
        created_by_id=user.id,
        created_at=now,
    )
    try:
        # A savepoint: a concurrent import of the same invoice loses cleanly
        # with a 409, and the caller's transaction stays usable.
        with session.begin_nested():
            session.add(invoice)
    except IntegrityError:
        if _existing(session, account.id, reference) is None:
            raise
        raise _duplicate(account.number, reference) from None
    _audit(session, invoice, actor=actor, now=now)
    log.info(
        "invoice.recorded",
        invoice_id=invoice.id,
        account_id=account.id,
        amount_minor=minor,
        currency=invoice.currency,
    )
    return invoice


def _amount(text: str, currency: str, account_currency: str) -> int:
    try:
        currency_exponent(currency)
    except MoneyError as error:
        raise ValidationFailed.on("currency", str(error)) from None
    if currency != account_currency:
        raise ValidationFailed.on(
            "currency",
            f"the account is billed in {account_currency}, not {currency}",
        )
    try:
        minor = parse_amount(text, currency)
    except MoneyError as error:
        raise ValidationFailed.on("amount", str(error)) from None
    if minor <= 0:
        raise ValidationFailed.on("amount", "amount must be greater than zero")
    return minor


def _reference(text: str) -> str:
    reference = text.strip()
    if not (0 < len(reference) <= 100):
        raise ValidationFailed.on("reference", "reference must be 1 to 100 characters")
    return reference


def _existing(session: Session, account_id: int, reference: str) -> int | None:
    return session.scalar(
        sa.select(Invoice.id).where(
            Invoice.account_id == account_id, Invoice.reference == reference
        )
    )


def _duplicate(number: str, reference: str) -> Conflict:
    return Conflict(
        f"account {number} already has an invoice {reference}",
        [FieldIssue("reference", "this account already has an invoice with it")],
    )


def _audit(session: Session, invoice: Invoice, *, actor: Actor, now: datetime) -> None:
    audit.record(
        session,
        actor=actor,
        action="invoice.recorded",
        entity_type="invoice",
        entity_id=invoice.id,
        changes={
            "account_id": (None, invoice.account_id),
            "reference": (None, invoice.reference),
            "issued_on": (None, invoice.issued_on),
            "period_start": (None, invoice.period_start),
            "period_end": (None, invoice.period_end),
            "amount_minor": (None, invoice.amount_minor),
            "currency": (None, invoice.currency),
        },
        now=now,
    )


def cancel_invoice(
    session: Session,
    *,
    user: User,
    invoice_id: int,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Invoice:
    """Mark an invoice the billing system cancelled (or credited in full):
    from now on the reports count it as revenue no more. ``reason`` is kept
    in the audit trail (422 when blank); 409 when it was cancelled already."""
    require(user, Permission.MANAGE_ACCOUNTS)
    if not reason.strip():
        raise ValidationFailed.on("reason", "say why, in a few words")
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} does not exist")
    if invoice.status is InvoiceStatus.CANCELLED:
        raise Conflict(f"invoice {invoice.reference} was cancelled already")

    invoice.status = InvoiceStatus.CANCELLED
    invoice.cancelled_at = now
    audit.record(
        session,
        actor=actor,
        action="invoice.cancelled",
        entity_type="invoice",
        entity_id=invoice.id,
        changes={
            "status": (InvoiceStatus.ISSUED.value, InvoiceStatus.CANCELLED.value),
            "cancelled_at": (None, now),
        },
        reason=reason,
        now=now,
    )
    log.info("invoice.cancelled", invoice_id=invoice.id, account_id=invoice.account_id)
    return invoice


def get_invoice(session: Session, *, user: User, invoice_id: int) -> Invoice:
    """One invoice (finance and admins)."""
    require(user, Permission.MANAGE_ACCOUNTS)
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} does not exist")
    return invoice


def list_invoices(
    session: Session,
    *,
    user: User,
    limit: int,
    before_id: int | None = None,
    account_id: int | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
) -> list[Invoice]:
    """Invoices newest first (by id), optionally of one account and issued
    within a range of days (both included)."""
    require(user, Permission.MANAGE_ACCOUNTS)
    query = sa.select(Invoice).order_by(Invoice.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Invoice.id < before_id)
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    if issued_from is not None:
        query = query.where(Invoice.issued_on >= issued_from)
    if issued_to is not None:
        query = query.where(Invoice.issued_on <= issued_to)
    return list(session.scalars(query))
