"""The state of a fake Salesforce org: records, sessions and the rules it checks.

Only what creditdesk writes is modelled: Accounts (by Id), Billing invoices
and their lines (seeded by tests), and the credit notes, lines and allocations
created through composite requests. Errors use Salesforce's codes and its
``[{"message", "errorCode", "fields"}]`` shape.
"""

import re
import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from creditdesk.integrations.fakes.server import Faults

NOTE = "blng__CreditNote__c"
LINE = "blng__CreditNoteLine__c"
ALLOCATION = "blng__CreditNoteAllocation__c"
INVOICE = "blng__Invoice__c"
INVOICE_LINE = "blng__InvoiceLine__c"

STATUSES = frozenset({"Draft", "Posted", "Cancelled"})
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_PREFIXES = {
    "Account": "001",
    NOTE: "a1n",
    LINE: "a1l",
    ALLOCATION: "a1a",
    INVOICE: "a1i",
    INVOICE_LINE: "a1j",
}
_NAMES = {
    NOTE: "CN",
    LINE: "CNL",
    ALLOCATION: "CNA",
    INVOICE: "INV",
    INVOICE_LINE: "IL",
}


class SalesforceError(Exception):
    """One refused operation: its HTTP status and Salesforce's error body."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = [{"message": message, "errorCode": code, "fields": fields or []}]


def session_expired() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


@dataclass
class Org:
    """One org. Tests seed accounts and invoices and read back what was made.

    ``open_world`` (the demo) treats every well-formed Account Id as existing
    and gives an unknown invoice name one line on first lookup.
    ``line_subtotal_limit`` stands for a validation rule an admin might add.
    ``query_batch_size`` is how many records one query answer holds (the
    real default is 2,000). ``lose_composite_answers`` commits that many
    composite requests and then answers 504, as a proxy that timed out after
    the org did the work.
    """

    client_id: str = "creditdesk-fake"
    client_secret: str = "fake-secret"  # noqa: S105 - the fake's own
    key_field: str = "Creditdesk_Key__c"
    # The JWT bearer flow: the certificate's public key (PEM) the connected
    # app verifies assertions with, the users it is approved for, and the
    # login server it answers as (``aud``).
    jwt_public_key: str | None = None
    jwt_users: set[str] = field(default_factory=set)
    jwt_audience: str = "https://login.salesforce.com"
    instance_url: str | None = None
    open_world: bool = False
    line_subtotal_limit: Decimal | None = None
    lose_composite_answers: int = 0
    # Records per query answer; the rest wait behind ``nextRecordsUrl``.
    query_batch_size: int = 2000
    faults: Faults = field(default_factory=Faults)
    tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    accounts: set[str] = field(default_factory=set)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    composite_bodies: list[bytes] = field(default_factory=list)
    # A query's size and its records not yet handed out, by locator.
    query_cursors: dict[str, tuple[int, list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    lock: threading.RLock = field(default_factory=threading.RLock)
    _serial: int = 0

    # What tests use -----------------------------------------------------

    def add_account(self) -> str:
        with self.lock:
            account_id = self.new_id("Account")
            self.accounts.add(account_id)
            return account_id

    def add_invoice(self, name: str, account_id: str, *, lines: int = 1) -> list[str]:
        """An invoice with ``lines`` lines; returns the line Ids."""
        with self.lock:
            invoice_id = self.new_id(INVOICE)
            self.table(INVOICE)[invoice_id] = {
                "Id": invoice_id,
                "Name": name,
                "blng__Account__c": account_id,
            }
            return [self._add_invoice_line(invoice_id) for _ in range(lines)]

    def note_total(self, note_id: str) -> Decimal:
        """blng__TotalAmount__c: the sum of the note's line subtotals."""
        with self.lock:
            return sum(
                (
                    Decimal(line["blng__Subtotal__c"])
                    for line in self.table(LINE).values()
                    if line["blng__CreditNote__c"] == note_id
                ),
                Decimal(0),
            )

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for row in self.table(sobject).values()]

    def expire_sessions(self) -> None:
        with self.lock:
            self.tokens.clear()

    # What the endpoints use ---------------------------------------------

    def issue_token(self) -> str:
        with self.lock:
            token = f"00D5g000000Fake!{secrets.token_urlsafe(24)}"
            self.tokens.add(token)
            self.tokens_issued += 1
            return token

    def check_token(self, authorization: str) -> None:
        token = authorization.removeprefix("Bearer ").strip()
        with self.lock:
            if not authorization.startswith("Bearer ") or token not in self.tokens:
                raise session_expired()

    def table(self, sobject: str) -> dict[str, dict[str, Any]]:
        return self.records.setdefault(sobject, {})

    def new_id(self, sobject: str) -> str:
        self._serial += 1
        return f"{_PREFIXES[sobject]}{self._serial:012d}AAA"

    def new_name(self, sobject: str) -> str:
        return f"{_NAMES[sobject]}-{self._serial:08d}"

    def account_exists(self, account_id: str) -> bool:
        if account_id in self.accounts:
            return True
        return self.open_world and account_id.startswith(_PREFIXES["Account"])

    def invoice_lines(self, invoice_name: str, account_id: str) -> list[dict]:
        invoices = [
            row
            for row in self.table(INVOICE).values()
            if row["Name"] == invoice_name and row["blng__Account__c"] == account_id
        ]
        if not invoices and self.open_world and self.account_exists(account_id):
            self.add_invoice(invoice_name, account_id)
            return self.invoice_lines(invoice_name, account_id)
        ids = {row["Id"] for row in invoices}
        lines = [
            row
            for row in self.table(INVOICE_LINE).values()
            if row["blng__Invoice__c"] in ids
        ]
        return sorted(lines, key=lambda row: row["Name"])

    def _add_invoice_line(self, invoice_id: str) -> str:
        line_id = self.new_id(INVOICE_LINE)
        self.table(INVOICE_LINE)[line_id] = {
            "Id": line_id,
            "Name": self.new_name(INVOICE_LINE),
            "blng__Invoice__c": invoice_id,
        }
        return line_id


def check_id(value: Any, *, field_name: str, label: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise SalesforceError(
            400,
            "MALFORMED_ID",
            f"{label} ID: id value of incorrect type: {value}",
            [field_name],
        )
    return value


def check_number(value: Any, *, field_name: str) -> Decimal:
    # Stricter than Salesforce, which also takes numeric strings: the adapter
    # must send a JSON number, and this is where that is checked.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise SalesforceError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of currency from {value!r}",
            [field_name],
        )
    return Decimal(value)


def check_status(status: Any) -> None:
    """``blng__Status__c`` is a restricted picklist."""
    if status not in STATUSES:
        raise SalesforceError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"bad value for restricted picklist field: {status}",
            ["blng__Status__c"],
        )


def missing_reference(field_name: str) -> SalesforceError:
    return SalesforceError(
        400,
        "INVALID_CROSS_REFERENCE_KEY",
        f"invalid cross reference id: {field_name}",
        [field_name],
    )
