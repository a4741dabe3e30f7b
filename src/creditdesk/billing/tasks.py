"""The ``credit.post`` job: post an approved credit to its billing system once
(``billing/reversals.py`` holds its counterpart, the ``credit.void`` job).

A remote system is posted in three steps, so that no transaction stays open
while a vendor answers:

1. lock the credit and move it to ``posting`` (commit);
2. call the account's billing adapter, keyed by the outbox message id;
3. record ``posted`` / ``applied``, resolve the case if settled and mark the
   message delivered, all in one transaction.

If the worker dies between 2 and 3, the lease expires, another worker runs the
job again and the adapter's idempotency key turns the second post into a
lookup of the first. A system in our own database (the built-in ledger) is
posted in one transaction holding all three steps.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.approvals import handoffs
from creditdesk.approvals.models import WorkItemKind
from creditdesk.billing.adapters import (
    BillingAdapter,
    InTransactionAdapter,
    PostingRequest,
    PostingResult,
)
from creditdesk.billing.registry import adapter_for
from creditdesk.cases.service import resolve_if_settled
from creditdesk.clock import Clock
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.errors import NotFound
from creditdesk.outbox.errors import PermanentError, describe
from creditdesk.outbox.handlers import HandlerContext

log = structlog.get_logger(__name__)

# States in which a credit.post message still has work to do. A credit left
# in posting or posting_failed by an earlier attempt may already be known to
# the vendor, so those are looked up before posting again.
_POSTABLE = frozenset(
    {CreditStatus.APPROVED, CreditStatus.POSTING, CreditStatus.POSTING_FAILED}
)


class AdapterFactory(Protocol):
    def __call__(
        self,
        system: BillingSystem,
        *,
        session_factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
    ) -> BillingAdapter: ...


@dataclass(frozen=True, slots=True)
class _Posting:
    request: PostingRequest
    system: BillingSystem
    adapter: BillingAdapter
    resumed: bool


class PostCredit:
    """The ``credit.post`` handler; payload ``{"credit_id": int}``."""

    def __init__(self, adapter_factory: AdapterFactory = adapter_for) -> None:
        self._adapter_factory = adapter_factory

    def __call__(self, context: HandlerContext) -> None:
        credit_id = credit_id_of(context.claim.payload)
        actor = Actor.system(Channel.WORKER, name=context.worker_id)

        try:
            posting = self._start(context, credit_id, actor)
            if posting is None:
                return
            result = self._post(context, posting)
        except PermanentError as exc:
            # Rejected by the vendor, or no adapter for its system.
            _give_up(context, credit_id, actor, describe(exc))
            return
        except Exception as exc:
            if not context.is_last_attempt:
                raise
            log.exception("billing.post_exhausted", credit_id=credit_id)
            _give_up(context, credit_id, actor, describe(exc))
            return

        _finish(context, credit_id, actor, posting, result)

    def on_dead(self, context: HandlerContext, error: str) -> None:
        """The worker dead-letters the message without running it (its leases
        kept expiring): the credit fails its posting as if the job gave up."""
        credit_id = credit_id_of(context.claim.payload)
        actor = Actor.system(Channel.WORKER, name=context.worker_id)
        _give_up(context, credit_id, actor, error)

    def _start(
        self, context: HandlerContext, credit_id: int, actor: Actor
    ) -> _Posting | None:
        """Move the credit to ``posting``; None when there is nothing left to
        send, because it is no longer postable or it was posted in this same
        transaction."""
        with transaction(context.session_factory) as session:
            credit, account = _load_with_account(session, credit_id)
            if credit.status not in _POSTABLE:
                log.info(
                    "billing.post_skipped",
                    credit_id=credit_id,
                    status=credit.status.value,
                )
                return None

            request = _request(credit, account, idempotency_key(context.claim.id))
            adapter = self._adapter_factory(
                account.billing_system,
                session_factory=context.session_factory,
                settings=context.settings,
                clock=context.clock,
            )
            resumed = credit.status != CreditStatus.APPROVED
            if not isinstance(adapter, InTransactionAdapter):
                _mark_posting(session, context, credit, actor)
                return _Posting(request, account.billing_system, adapter, resumed)

            # The message first, so that a worker that lost its lease changes
            # nothing; the memo before the credit's moves, so that no flush
            # falls between them and the credit row is written once.
            context.mark_delivered(session)
            result = adapter.post_within(
                session,
                request,
                account=account,
                retrying=resumed or context.claim.attempts > 1,
            )
            _mark_posting(session, context, credit, actor)
            _record_result(session, context, credit, actor, result, resumed=resumed)
        _log_posted(credit_id, account.billing_system, result)
        return None

    def _post(self, context: HandlerContext, posting: _Posting) -> PostingResult:
        adapter = posting.adapter
        key = posting.request.idempotency_key
        if posting.resumed or context.claim.attempts > 1:
            found = adapter.find_by_idempotency_key(key)
            if found is not None:
                log.info("billing.post_found", key=key, external_ref=found.external_ref)
                return found
        return adapter.post_credit(posting.request)


def idempotency_key(message_id: int) -> str:
    """The key a billing system sees for the outbox message ``message_id``."""
    return f"outbox-{message_id}"


def credit_id_of(payload: dict[str, Any]) -> int:
    """The credit a ``credit.post`` or ``credit.void`` payload names."""
    credit_id = payload.get("credit_id")
    if not isinstance(credit_id, int) or isinstance(credit_id, bool):
        raise PermanentError("the payload has no integer credit_id")
    return credit_id


# TODO(posting-speed): a credit costs two transactions (start and finish),
# each sealing its own audit entry, plus the vendor calls; the worker waits
# on each in turn. Posting a batch's credits side by side, or starting a
# whole batch in one transaction, would cut the waiting.
def _finish(
    context: HandlerContext,
    credit_id: int,
    actor: Actor,
    posting: _Posting,
    result: PostingResult,
) -> None:
    with transaction(context.session_factory) as session:
        # First, so that a worker that lost its lease changes nothing.
        context.mark_delivered(session)
        credit = load_locked(session, credit_id)
        _record_result(session, context, credit, actor, result, resumed=posting.resumed)
    _log_posted(credit_id, posting.system, result)


def _mark_posting(
    session: Session, context: HandlerContext, credit: BillingCredit, actor: Actor
) -> None:
    if credit.status != CreditStatus.POSTING:
        lifecycle.start_posting(session, credit, actor=actor, now=context.now())


def _record_result(
    session: Session,
    context: HandlerContext,
    credit: BillingCredit,
    actor: Actor,
    result: PostingResult,
    *,
    resumed: bool,
) -> None:
    now = context.now()
    lifecycle.record_posted(
        session, credit, external_ref=result.external_ref, actor=actor, now=now
    )
    if resumed:
        # A retried posting that went through settles its handoff too. Only a
        # credit that failed its posting before can have one.
        handoffs.finish_open(
            session,
            credit.id,
            WorkItemKind.POSTING_FAILED,
            user=None,
            actor=actor,
            now=now,
        )
    if result.applied:
        lifecycle.record_applied(session, credit, actor=actor, now=now)
        resolve_if_settled(
            session, credit.case_id, actor=actor, now=now, settings=context.settings
        )


def _log_posted(credit_id: int, system: BillingSystem, result: PostingResult) -> None:
    log.info(
        "billing.credit_posted",
        credit_id=credit_id,
        system=system.value,
        external_ref=result.external_ref,
        applied=result.applied,
    )


def _give_up(context: HandlerContext, credit_id: int, actor: Actor, error: str) -> None:
    with transaction(context.session_factory) as session:
        context.mark_dead(session, error)
        credit = load_locked(session, credit_id)
        now = context.now()
        if credit.status == CreditStatus.APPROVED:
            # The attempt was rolled back before it could record its start
            # (say no adapter could be built); it still counts as one.
            lifecycle.start_posting(session, credit, actor=actor, now=now)
        if credit.status == CreditStatus.POSTING:
            lifecycle.record_posting_failed(
                session, credit, error=error, actor=actor, now=now
            )
            # Someone must now sort it out with the billing system.
            handoffs.to_billing_operations(
                session,
                credit=credit,
                error=error,
                actor=actor,
                now=now,
                settings=context.settings,
            )
    log.warning("billing.post_failed", credit_id=credit_id, error=error)


def _load_with_account(
    session: Session, credit_id: int
) -> tuple[BillingCredit, Account]:
    try:
        return lifecycle.load_with_account(session, credit_id)
    except NotFound as exc:
        raise PermanentError(str(exc)) from exc


def load_locked(session: Session, credit_id: int) -> BillingCredit:
    """The credit, locked for this job; a missing one is a permanent error."""
    try:
        return lifecycle.load_for_update(session, credit_id)
    except NotFound as exc:
        raise PermanentError(str(exc)) from exc


def _request(credit: BillingCredit, account: Account, key: str) -> PostingRequest:
    memo_text = f"Credit {credit.number} ({credit.type}, {credit.reason})"
    if credit.invoice_ref:
        memo_text += f" against invoice {credit.invoice_ref}"
    return PostingRequest(
        idempotency_key=key,
        credit_id=credit.id,
        credit_number=credit.number,
        account_number=account.number,
        external_account_id=account.external_account_id,
        amount_minor=credit.amount_minor,
        currency=credit.currency,
        reason=credit.reason,
        credit_type=credit.type,
        invoice_ref=credit.invoice_ref,
        memo_text=memo_text,
    )
