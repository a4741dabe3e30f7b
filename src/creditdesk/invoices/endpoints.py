"""The invoices API: billing operations import invoices and cancel those the
billing system cancelled; finance and admins read them."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now
from creditdesk.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    next_cursor,
)
from creditdesk.invoices import service
from creditdesk.invoices.schemas import CancelIn, InvoiceIn, InvoiceOut

router = APIRouter(tags=["invoices"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only finance and administrators record invoices"},
    409: {"description": "The account already has an invoice with this reference"},
    422: {"description": "A field is not valid; `field` names it"},
}


@router.post("/invoices", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
def record_invoice(
    body: InvoiceIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> InvoiceOut:
    """Record an invoice the billing system issued (audited). `amount` is a
    decimal string in the account's currency, which `currency` must name."""
    invoice = service.record_invoice(
        session,
        user=user,
        account_id=body.account_id,
        reference=body.reference,
        issued_on=body.issued_on,
        period_start=body.period_start,
        period_end=body.period_end,
        amount=body.amount,
        currency=body.currency,
        actor=actor,
        now=now,
    )
    return InvoiceOut.of(invoice)


@router.get("/invoices")
def list_invoices(
    session: DbSession,
    user: CurrentUser,
    account_id: int | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[InvoiceOut]:
    """Invoices, newest recorded first, of one account and issued in a range
    of days (both included) when asked."""
    invoices = service.list_invoices(
        session,
        user=user,
        account_id=account_id,
        issued_from=issued_from,
        issued_to=issued_to,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    return Page(
        items=[InvoiceOut.of(i) for i in invoices],
        next_cursor=next_cursor([i.id for i in invoices], limit),
    )


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: int, session: DbSession, user: CurrentUser) -> InvoiceOut:
    """One invoice."""
    return InvoiceOut.of(service.get_invoice(session, user=user, invoice_id=invoice_id))


@router.post(
    "/invoices/{invoice_id}/cancel",
    responses={
        403: _ERRORS[403],
        404: {"description": "There is no such invoice"},
        409: {"description": "The invoice was cancelled already"},
        422: _ERRORS[422],
    },
)
def cancel_invoice(
    invoice_id: int,
    body: CancelIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> InvoiceOut:
    """Mark an invoice the billing system cancelled, or credited in full: the
    leakage report counts it as billed revenue no more. `reason` is kept in
    the audit trail (`invoice.cancelled`)."""
    invoice = service.cancel_invoice(
        session,
        user=user,
        invoice_id=invoice_id,
        reason=body.reason,
        actor=actor,
        now=now,
    )
    return InvoiceOut.of(invoice)
