"""The fake Zuora tenant's records and the rules its operations enforce.

Field names are those of the Zuora v1 API reference (``GETCreditMemoType``,
the invoice and invoice item objects, ``basicInfo`` / ``billingAndPayment`` of
an account). Error codes follow Zuora's scheme: the last two digits are the
documented category (20 invalid value, 21 unknown field, 22 missing field, 30
rule restriction, 40 not found, 50 locking contention).
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from creditdesk.integrations.zuora import fake_query as object_query
from creditdesk.integrations.zuora.fake_query import Query, Refusal

_VERSION_WITH_AMOUNT = (224, 0)


@dataclass
class Account:
    id: str
    number: str
    currency: str


@dataclass
class InvoiceItem:
    id: str
    charge_name: str
    amount: Decimal
    balance: Decimal
    credited: Decimal = Decimal(0)


@dataclass
class Invoice:
    id: str
    number: str
    account: Account
    items: list[InvoiceItem]

    @property
    def balance(self) -> Decimal:
        return sum((item.balance for item in self.items), Decimal(0))


@dataclass
class Memo:
    id: str
    number: str
    account: Account
    amount: Decimal
    reason_code: str
    comment: str
    effective_date: str
    custom: dict[str, str]
    invoice: Invoice | None = None
    status: str = "Draft"
    applied: Decimal = Decimal(0)
    # What it is applied to, by invoice id; a reversal applies it in full
    # to the debit memo it creates.
    applied_to: dict[str, Decimal] = field(default_factory=dict)
    reversed: bool = False
    debit_memo: str | None = None


@dataclass
class Tenant:
    accounts: dict[str, Account] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    memos: dict[str, Memo] = field(default_factory=dict)
    charges: set[str] = field(default_factory=lambda: {"goodwill-credit-charge"})
    reason_codes: set[str] = field(
        default_factory=lambda: {"Correcting invoice error", "Goodwill", "Write-off"}
    )
    custom_fields: set[str] = field(default_factory=lambda: {"IdempotencyKey__c"})
    memos_created: int = 0
    debit_memos_created: int = 0

    def add_account(self, *, number: str, currency: str) -> Account:
        account = Account(_zuora_id(), number, currency)
        self.accounts[account.id] = account
        return account

    def add_invoice(
        self, *, account: Account, number: str, items: list[tuple[str, Decimal]]
    ) -> Invoice:
        lines = [InvoiceItem(_zuora_id(), name, amt, amt) for name, amt in items]
        invoice = Invoice(_zuora_id(), number, account, lines)
        self.invoices[invoice.id] = invoice
        return invoice

    # -- reads -----------------------------------------------------------------

    def account_view(self, key: str) -> dict[str, Any]:
        account = self._account(key)
        return {
            "basicInfo": {
                "id": account.id,
                "accountNumber": account.number,
                "status": "Active",
            },
            "billingAndPayment": {"currency": account.currency},
        }

    def invoice_view(self, key: str) -> dict[str, Any]:
        invoice = self.invoice(key)
        return {
            "id": invoice.id,
            "invoiceNumber": invoice.number,
            "accountId": invoice.account.id,
            "currency": invoice.account.currency,
            "amount": sum((i.amount for i in invoice.items), Decimal(0)),
            "balance": invoice.balance,
            "status": "Posted",
        }

    def items_view(self, key: str) -> dict[str, Any]:
        invoice = self.invoice(key)
        return {
            "invoiceItems": [
                {
                    "id": item.id,
                    "chargeName": item.charge_name,
                    "chargeAmount": item.amount,
                    "balance": item.balance,
                }
                for item in invoice.items
            ]
        }

    def memo_view(self, key: str) -> dict[str, Any]:
        return view(self.memo(key))

    def query_memos(self, query: Query) -> dict[str, Any]:
        rows = [_object_row(m) for m in self.memos.values()]
        rows = object_query.sorted_rows(
            object_query.filtered(rows, query.filters), query.sort
        )
        if "account" in (e.lower() for e in query.expand):
            for row in rows:
                account = self.accounts[row["accountId"]]
                row["account"] = {"id": account.id, "accountNumber": account.number}
        return object_query.page(rows, query.page_size, query.cursor)

    # -- changes ------------------------------------------------------------

    def memo_from_invoice(
        self, params: dict[str, str], body: dict, now: datetime, _version: str
    ) -> dict[str, Any]:
        invoice = self.invoice(params["key"])
        lines = body.get("items") or []
        if not lines:
            raise Refusal(53000022, "items is required.")
        planned = [self._credit_line(invoice, line) for line in lines]
        total = sum((amount for _, amount in planned), Decimal(0))
        memo = self._new_memo(invoice.account, total, body, now)
        memo.invoice = invoice
        for item, amount in planned:
            item.credited += amount
        return view(memo)

    def memo_from_charge(
        self, _params: dict, body: dict, now: datetime, version: str
    ) -> dict[str, Any]:
        account = self._account(str(body.get("accountId") or ""))
        charges = body.get("charges") or []
        if not charges:
            raise Refusal(53000022, "charges is required.")
        amount_field = "amount" if _at_least(version) else "memoItemAmount"
        total = Decimal(0)
        for charge in charges:
            if charge.get("chargeId") not in self.charges:
                raise Refusal(
                    50000040, f"Cannot find charge by key: {charge.get('chargeId')}."
                )
            total += positive(charge.get(amount_field), amount_field)
        return view(self._new_memo(account, total, body, now))

    def post_memo(self, key: str, _body: dict, _now: datetime) -> dict[str, Any]:
        memo = self.memo(key)
        if memo.status != "Draft":
            raise Refusal(
                53000030, "Only credit memos with the Draft status can be posted."
            )
        memo.status = "Posted"
        return view(memo)

    def apply_memo(self, key: str, body: dict, _now: datetime) -> dict[str, Any]:
        memo = self.memo(key)
        if memo.status != "Posted":
            raise Refusal(53000030, "Only posted credit memos can be applied.")
        targets = body.get("invoices") or []
        if not targets:
            raise Refusal(53000022, "invoices is required.")
        plan = [
            (self.invoice(str(t.get("invoiceId"))), positive(t.get("amount")))
            for t in targets
        ]
        total = sum((amount for _, amount in plan), Decimal(0))
        if total > memo.amount - memo.applied:
            raise Refusal(
                53000030,
                "The total amount to apply exceeds the unapplied amount of the "
                "credit memo.",
            )
        for invoice, amount in plan:
            if amount > invoice.balance:
                raise Refusal(
                    53000030,
                    f"The amount to apply exceeds the balance of invoice "
                    f"{invoice.number}.",
                )
        for invoice, amount in plan:
            _reduce(invoice, amount)
            memo.applied_to[invoice.id] = memo.applied_to.get(invoice.id, 0) + amount
        memo.applied += total
        return view(memo)

    # -- helpers ------------------------------------------------------------

    def _credit_line(
        self, invoice: Invoice, line: dict[str, Any]
    ) -> tuple[InvoiceItem, Decimal]:
        for name in ("invoiceItemId", "skuName", "amount"):
            if line.get(name) in (None, ""):
                raise Refusal(53000022, f"items.{name} is required.")
        item = next((i for i in invoice.items if i.id == line["invoiceItemId"]), None)
        if item is None:
            raise Refusal(
                50000040, f"Cannot find invoice item: {line['invoiceItemId']}."
            )
        amount = positive(line["amount"])
        if item.credited + amount > item.amount:
            raise Refusal(
                53000030,
                f"The credit amount exceeds the amount available on invoice item "
                f"{item.id}.",
            )
        return item, amount

    def _new_memo(
        self, account: Account, amount: Decimal, body: dict, now: datetime
    ) -> Memo:
        reason = body.get("reasonCode") or "Goodwill"
        if reason not in self.reason_codes:
            raise Refusal(53000020, f"Invalid reason code: {reason}.")
        custom = {k: str(v) for k, v in body.items() if k.endswith("__c")}
        unknown = set(custom) - self.custom_fields
        if unknown:
            raise Refusal(53000021, f"Unknown field: {sorted(unknown)[0]}.")
        self.memos_created += 1
        memo = Memo(
            id=_zuora_id(),
            number=f"CM{self.memos_created:08d}",
            account=account,
            amount=amount,
            reason_code=reason,
            comment=str(body.get("comment") or ""),
            effective_date=str(body.get("effectiveDate") or now.date().isoformat()),
            custom=custom,
        )
        self.memos[memo.id] = memo
        return memo

    def _account(self, key: str) -> Account:
        for account in self.accounts.values():
            if key in (account.id, account.number):
                return account
        raise Refusal(50000040, f"Cannot find entity by key: '{key}'.")

    def invoice(self, key: str) -> Invoice:
        for invoice in self.invoices.values():
            if key in (invoice.id, invoice.number):
                return invoice
        raise Refusal(50000040, f"Cannot find entity by key: '{key}'.")

    def memo(self, key: str) -> Memo:
        # By id first, as the adapter asks: a scan would grow with the tenant.
        found = self.memos.get(key)
        if found is not None:
            return found
        for memo in self.memos.values():
            if key == memo.number:
                return memo
        raise Refusal(50000040, f"Cannot find entity by key: '{key}'.")


def view(memo: Memo) -> dict[str, Any]:
    unapplied = memo.amount - memo.applied
    return {
        "id": memo.id,
        "number": memo.number,
        "accountId": memo.account.id,
        "currency": memo.account.currency,
        "amount": memo.amount,
        "appliedAmount": memo.applied,
        "unappliedAmount": unapplied,
        "balance": unapplied,
        "refundAmount": Decimal(0),
        "status": memo.status,
        "reversed": memo.reversed,
        "reasonCode": memo.reason_code,
        "comment": memo.comment,
        "creditMemoDate": memo.effective_date,
        "referredInvoiceId": memo.invoice.id if memo.invoice else None,
        **memo.custom,
    }


def _object_row(memo: Memo) -> dict[str, Any]:
    """A memo as the Object Query API names its fields."""
    return {
        "id": memo.id,
        "memoNumber": memo.number,
        "memoDate": memo.effective_date,
        "accountId": memo.account.id,
        "currency": memo.account.currency,
        "totalAmount": memo.amount,
        "status": memo.status,
        **memo.custom,
    }


def _reduce(invoice: Invoice, amount: Decimal) -> None:
    for item in invoice.items:
        taken = min(item.balance, amount)
        item.balance -= taken
        amount -= taken


def positive(value: Any, name: str = "amount") -> Decimal:
    if not isinstance(value, Decimal) or value <= 0:
        raise Refusal(53000020, f"{name} must be a positive number.")
    return value


def _at_least(version: str) -> bool:
    try:
        major, _, minor = version.partition(".")
        return (int(major), int(minor or 0)) >= _VERSION_WITH_AMOUNT
    except ValueError:
        return False


def _zuora_id() -> str:
    return uuid.uuid4().hex
