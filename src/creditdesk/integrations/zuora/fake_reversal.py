"""Taking a credit memo back in the fake tenant: unapply, reverse, cancel.

The rules are those of Zuora's API reference (Invoice Settlement):

- ``PUT /v1/creditmemos/{key}/unapply`` moves amounts applied to invoices
  back into the memo's unapplied amount (``invoices``: ``invoiceId`` and
  ``amount``, at most what is applied there); the memo must be Posted;
- ``PUT /v1/creditmemos/{key}/reverse`` reverses a Posted memo whose applied
  amount is 0: Zuora creates a debit memo for the same amount and applies the
  credit memo to it, so the memo stays Posted, fully applied, with
  ``reversed`` true; the answer names both memos;
- ``PUT /v1/creditmemos/{key}/cancel`` cancels a Draft memo (Canceled).

A refusal is a 200 with ``success: false`` and a rule-restriction code
(category 30), as for the other operations.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from creditdesk.integrations.zuora.fake_query import Refusal
from creditdesk.integrations.zuora.fake_tenant import Invoice, Tenant, positive, view


def unapply(tenant: Tenant, key: str, body: dict, _now: datetime) -> dict[str, Any]:
    memo = tenant.memo(key)
    if memo.status != "Posted":
        raise Refusal(53000030, "Only posted credit memos can be unapplied.")
    targets = body.get("invoices") or []
    if not targets:
        raise Refusal(53000022, "invoices is required.")
    plan = [
        (tenant.invoice(str(t.get("invoiceId"))), positive(t.get("amount")))
        for t in targets
    ]
    for invoice, amount in plan:
        if amount > memo.applied_to.get(invoice.id, Decimal(0)):
            raise Refusal(
                53000030,
                f"The amount to unapply exceeds the amount applied to invoice "
                f"{invoice.number}.",
            )
    for invoice, amount in plan:
        _restore(invoice, amount)
        memo.applied_to[invoice.id] -= amount
        memo.applied -= amount
    return view(memo)


def reverse(tenant: Tenant, key: str, _body: dict, _now: datetime) -> dict[str, Any]:
    memo = tenant.memo(key)
    if memo.status != "Posted":
        raise Refusal(53000030, "Only credit memos in Posted status can be reversed.")
    if memo.reversed or memo.applied != 0:
        raise Refusal(
            53000030,
            "You cannot reverse a credit memo whose applied amount is not 0.",
        )
    tenant.debit_memos_created += 1
    debit_id = uuid.uuid4().hex
    memo.debit_memo = f"DM{tenant.debit_memos_created:08d}"
    memo.applied = memo.amount
    memo.reversed = True
    return {"creditMemo": {"id": memo.id}, "debitMemo": {"id": debit_id}}


def cancel(tenant: Tenant, key: str, _body: dict, _now: datetime) -> dict[str, Any]:
    memo = tenant.memo(key)
    if memo.status != "Draft":
        raise Refusal(
            53000030, "Only credit memos with the Draft status can be canceled."
        )
    memo.status = "Canceled"
    return view(memo)


def _restore(invoice: Invoice, amount: Decimal) -> None:
    """Give ``amount`` back to the invoice's items, last taken first."""
    for item in reversed(invoice.items):
        given = min(item.amount - item.balance, amount)
        item.balance += given
        amount -= given
