"""The ``credit.void`` job: reverse a voided credit's memo at its billing
system once.

It follows the posting's steps (see ``billing/tasks.py``): read what to
reverse, call the account's adapter keyed by the ``credit.void`` message's
id with no transaction open, then record the reversal and finish the void in
one transaction.
"""

import structlog

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.billing.adapters import VoidRequest, VoidResult
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.tasks import (
    AdapterFactory,
    credit_id_of,
    idempotency_key,
    load_locked,
)
from creditdesk.credits import voids
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import read_only, transaction
from creditdesk.outbox.errors import PermanentError
from creditdesk.outbox.handlers import HandlerContext

log = structlog.get_logger(__name__)


class VoidCredit:
    """The ``credit.void`` handler; payload ``{"credit_id": int}``.

    The credit is ``voiding``: this reverses its memo at the billing system,
    and only when the system confirms does the credit become ``voided``, with
    the reversal's reference in the audit trail. A refusal leaves it
    ``voiding`` and the message dead, with the vendor's words, for billing
    operations to retry or cancel.
    """

    def __init__(self, adapter_factory: AdapterFactory = adapter_for) -> None:
        self._adapter_factory = adapter_factory

    def __call__(self, context: HandlerContext) -> None:
        credit_id = credit_id_of(context.claim.payload)
        actor = Actor.system(Channel.WORKER, name=context.worker_id)

        voiding = _voiding(context, credit_id)
        if voiding is None:
            return
        request, system = voiding
        adapter = self._adapter_factory(
            system,
            session_factory=context.session_factory,
            settings=context.settings,
            clock=context.clock,
        )
        void = getattr(adapter, "void_credit", None)
        if void is None:
            # Every built-in system reverses; an adapter plugged in without
            # a reversal leaves the dead letter for billing operations.
            raise PermanentError(f"{system.value} has no reversal operation")
        result = void(request)

        with transaction(context.session_factory) as session:
            # First, so that a worker that lost its lease changes nothing.
            context.mark_delivered(session)
            credit = load_locked(session, credit_id)
            now = context.now()
            audit.record(
                session,
                actor=actor,
                action="credit.reversed",
                entity_type="credit",
                entity_id=credit_id,
                changes=_reversal_changes(result),
                now=now,
            )
            if credit.status == CreditStatus.VOIDING:
                voids.finish_void(
                    session,
                    credit,
                    reason=f"reversed at {system.value}: {result.raw_status}",
                    actor=actor,
                    now=now,
                    settings=context.settings,
                )
        log.info(
            "billing.credit_reversed",
            credit_id=credit_id,
            system=system.value,
            external_ref=result.external_ref,
        )


def _reversal_changes(result: VoidResult) -> dict[str, tuple[object, object]]:
    changes: dict[str, tuple[object, object]] = {
        "reversed_ref": (None, result.external_ref),
        "billing_status": (None, result.raw_status),
    }
    if result.reversal_ref is not None:
        changes["reversal_ref"] = (None, result.reversal_ref)
    return changes


def _voiding(
    context: HandlerContext, credit_id: int
) -> tuple[VoidRequest, BillingSystem] | None:
    with context.session_factory() as session:
        read_only(session)
        credit = session.get(BillingCredit, credit_id)
        if credit is None:
            raise PermanentError(f"credit {credit_id} does not exist")
        posted_as = credit.external_ref
        if credit.status != CreditStatus.VOIDING or posted_as is None:
            # Already reversed (a repeated delivery), or nothing to reverse.
            log.info(
                "billing.void_skipped", credit_id=credit_id, status=credit.status.value
            )
            return None
        account = session.get_one(Account, credit.account_id)
        key = idempotency_key(context.claim.id)
        return _void_request(credit, account, posted_as, key), account.billing_system


def _void_request(
    credit: BillingCredit, account: Account, external_ref: str, key: str
) -> VoidRequest:
    return VoidRequest(
        idempotency_key=key,
        credit_id=credit.id,
        credit_number=credit.number,
        account_number=account.number,
        external_account_id=account.external_account_id,
        external_ref=external_ref,
        amount_minor=credit.amount_minor,
        currency=credit.currency,
        memo_text=f"Credit {credit.number} voided",
    )
