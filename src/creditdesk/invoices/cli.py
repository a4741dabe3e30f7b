"""``creditdesk invoices``: record or cancel an invoice from the terminal, as
billing operations would from a billing system's export."""

from typing import Annotated

import typer

from creditdesk.cli_support import acting_user, date_option, unit_of_work
from creditdesk.clock import system_clock
from creditdesk.invoices import service
from creditdesk.money import format_amount

app = typer.Typer(help="Invoices billed to accounts.", no_args_is_help=True)


@app.command("add")
def add(
    account_id: Annotated[int, typer.Argument(help="The account billed.")],
    reference: Annotated[str, typer.Argument(help="The invoice number.")],
    issued_on: Annotated[str, typer.Argument(help="Issued on, e.g. 2026-03-01")],
    amount: Annotated[str, typer.Argument(help="In the account's currency: 84.50")],
    currency: Annotated[str, typer.Argument(help="The account's currency: GBP")],
    *,
    as_user: Annotated[str, typer.Option("--as", help="Finance or an admin.")],
    period_start: Annotated[str | None, typer.Option(help="Billing period")] = None,
    period_end: Annotated[str | None, typer.Option(help="Its last day")] = None,
) -> None:
    """Record an invoice issued to an account (audited)."""
    with unit_of_work() as session:
        user, actor = acting_user(session, as_user)
        invoice = service.record_invoice(
            session,
            user=user,
            account_id=account_id,
            reference=reference,
            issued_on=date_option(issued_on, "ISSUED_ON"),
            period_start=date_option(period_start, "--period-start"),
            period_end=date_option(period_end, "--period-end"),
            amount=amount,
            currency=currency,
            actor=actor,
            now=system_clock(),
        )
        amount_text = format_amount(invoice.amount_minor, invoice.currency)
        typer.echo(
            f"invoice {invoice.id}: {invoice.reference} on account "
            f"{invoice.account_id}, {amount_text} {invoice.currency}"
        )


@app.command("cancel")
def cancel(
    invoice_id: Annotated[int, typer.Argument(help="The invoice's id.")],
    *,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")],
    as_user: Annotated[str, typer.Option("--as", help="Finance or an admin.")],
) -> None:
    """Mark an invoice the billing system cancelled: no longer revenue."""
    with unit_of_work() as session:
        user, actor = acting_user(session, as_user)
        invoice = service.cancel_invoice(
            session,
            user=user,
            invoice_id=invoice_id,
            reason=reason,
            actor=actor,
            now=system_clock(),
        )
        typer.echo(f"invoice {invoice.id}: {invoice.reference} cancelled")
