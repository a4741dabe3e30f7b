"""The interface every billing system implements, and the choice between them.

An adapter posts one credit memo per idempotency key, and reverses one per
void key, however often it is asked: the worker delivers at least once, so the
receiving side must make that exactly once. Before posting again after a crash
or a long pause, the worker asks ``find_by_idempotency_key`` whether an earlier
attempt got through.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from creditdesk.outbox.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from creditdesk.accounts.models import Account


@dataclass(frozen=True, slots=True)
class PostingRequest:
    """One credit memo to raise, with everything a vendor API asks for."""

    idempotency_key: str
    credit_id: int
    credit_number: str
    account_number: str
    external_account_id: str | None
    amount_minor: int
    currency: str
    reason: str
    credit_type: str
    invoice_ref: str | None
    memo_text: str


@dataclass(frozen=True, slots=True)
class PostingResult:
    """What the billing system answered.

    ``applied`` is true when the memo already reduced the balance; otherwise the
    vendor applies it later and reconciliation picks that up.
    """

    external_ref: str
    applied: bool
    raw_status: str


@dataclass(frozen=True, slots=True)
class VoidRequest:
    """Reverse the memo ``external_ref`` that posting the credit raised."""

    idempotency_key: str
    credit_id: int
    credit_number: str
    account_number: str
    external_account_id: str | None
    external_ref: str
    amount_minor: int
    currency: str
    memo_text: str


@dataclass(frozen=True, slots=True)
class VoidResult:
    """The billing system's answer: the reversed memo and its status there,
    and the reversal's own reference where the system gives it one."""

    external_ref: str
    raw_status: str
    reversal_ref: str | None = None


class BillingTransientError(TransientError):
    """The vendor could not answer now (timeout, 5xx, rate limit): retry later."""


class BillingRejectedError(PermanentError):
    """The vendor refused the memo (a validation error): retrying cannot help."""


class BillingAdapter(Protocol):
    """A billing system that can raise credit memos idempotently."""

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """Raise the memo, or return the one already raised for this key."""
        ...

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        """The memo an earlier request with this key raised, if any."""
        ...

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Reverse the memo, or answer as before if this key already did."""
        ...


@runtime_checkable
class InTransactionAdapter(Protocol):
    """A billing system kept in our own database, such as the built-in ledger.

    It posts inside the job's transaction, so the memo, the credit's new state
    and the message's delivery commit together: no crash can fall between the
    system accepting the memo and our recording it.
    """

    def post_within(
        self,
        session: Session,
        request: PostingRequest,
        *,
        account: "Account",
        retrying: bool,
    ) -> PostingResult:
        """Raise the memo on ``account`` in ``session``; when ``retrying`` (an
        earlier attempt may have got through), first return the memo this key
        already raised, if any."""
        ...
