"""The built-in ledger: a billing system that lives in our own database.

It knows each memo by its idempotency key, so a repeated request returns the
memo already raised instead of crediting twice. The posting job calls
``post_within`` in its own transaction: the memo, the credit's posted and
applied states and the outbox message's delivery then commit together.
``post_credit`` commits on its own, as a remote system would; it serves
callers that hold no transaction of ours.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account
from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
    VoidRequest,
    VoidResult,
)
from creditdesk.billing.models import (
    LedgerEntry,
    LedgerMemo,
    MemoStatus,
    memo_reference,
)
from creditdesk.clock import Clock
from creditdesk.db import is_postgres, read_only, transaction
from creditdesk.reconciliation.sources import VendorMemo

log = structlog.get_logger(__name__)

_DESCRIPTION_CHARS = 200


class LedgerAdapter:
    """Raises and applies credit memos in the ledger tables, idempotently."""

    def __init__(self, session_factory: sessionmaker[Session], *, clock: Clock):
        self._session_factory = session_factory
        self._clock = clock

    def post_within(
        self,
        session: Session,
        request: PostingRequest,
        *,
        account: Account,
        retrying: bool,
    ) -> PostingResult:
        """Raise and apply a memo in the caller's transaction; when
        ``retrying``, first return the one this key already raised, if any."""
        memo = _memo_by_key(session, request.idempotency_key) if retrying else None
        if memo is not None:
            return _result(memo)
        return _raise_and_apply(session, request, account, self._clock)

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """Raise and apply a memo, or return the one this key already raised."""
        try:
            with transaction(self._session_factory) as session:
                memo = _memo_by_key(session, request.idempotency_key)
                if memo is not None:
                    result = _result(memo)
                else:
                    account = _account_by_number(session, request.account_number)
                    result = _raise_and_apply(session, request, account, self._clock)
        except IntegrityError:
            # A concurrent request with the same key committed first.
            existing = self.find_by_idempotency_key(request.idempotency_key)
            if existing is None:
                raise BillingTransientError(
                    "the ledger refused the memo; try again"
                ) from None
            return existing
        return result

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        """The memo raised for ``key``, if there is one."""
        with self._session_factory() as session:
            read_only(session)
            memo = _memo_by_key(session, key)
            return None if memo is None else _result(memo)

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Reverse the memo with one entry of +amount, once.

        A repeated request with the same key, or any request for a memo that
        is already reversed, answers with the reversal made before.
        """
        try:
            with transaction(self._session_factory) as session:
                memo = _memo_by_reversal_key(session, request.idempotency_key)
                if memo is None:
                    memo = _reverse(session, request, self._clock)
                result = _void_result(memo)
        except IntegrityError:
            # A concurrent request with the same key committed first.
            with self._session_factory() as session:
                read_only(session)
                memo = _memo_by_reversal_key(session, request.idempotency_key)
                if memo is None:
                    raise BillingTransientError(
                        "the ledger refused the reversal; try again"
                    ) from None
                return _void_result(memo)
        return result


class LedgerMemos:
    """The ledger's memos for reconciliation, in pages by id."""

    PAGE = 10_000

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def memos(self, start: date, end: date) -> Iterator[list[VendorMemo]]:
        low = datetime.combine(start, time.min, tzinfo=UTC)
        high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        after = 0
        while True:
            with self._session_factory() as session:
                read_only(session)
                rows = session.execute(
                    sa.select(
                        LedgerMemo.id,
                        LedgerMemo.idempotency_key,
                        Account.number,
                        LedgerMemo.amount_minor,
                        LedgerMemo.currency,
                        LedgerMemo.created_at,
                    )
                    .join(Account, Account.id == LedgerMemo.account_id)
                    .where(
                        LedgerMemo.id > after,
                        LedgerMemo.created_at >= low,
                        LedgerMemo.created_at < high,
                    )
                    .order_by(LedgerMemo.id)
                    .limit(self.PAGE)
                ).all()
            if not rows:
                return
            after = rows[-1][0]
            yield [
                VendorMemo(
                    external_ref=memo_reference(memo_id),
                    idempotency_key=key,
                    account_ref=number,
                    amount_minor=amount,
                    currency=currency,
                    created_on=created.date(),
                )
                for memo_id, key, number, amount, currency, created in rows
            ]


def account_balance(session: Session, account_id: int) -> int:
    """The account's ledger balance in minor units (credits are negative)."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_minor), 0)).where(
            LedgerEntry.account_id == account_id
        )
    )
    return int(total or 0)


def _memo_by_key(session: Session, key: str) -> LedgerMemo | None:
    return session.scalars(
        sa.select(LedgerMemo).where(LedgerMemo.idempotency_key == key)
    ).one_or_none()


def _memo_by_reversal_key(session: Session, key: str) -> LedgerMemo | None:
    return session.scalars(
        sa.select(LedgerMemo).where(LedgerMemo.reversal_key == key)
    ).one_or_none()


def _raise_and_apply(
    session: Session, request: PostingRequest, account: Account | None, clock: Clock
) -> PostingResult:
    account = _valid_account(account, request)
    now = clock()

    # Every posting runs these two inserts: straight on the connection, as
    # nothing needs the memo as an ORM object and a flush costs more.
    connection = session.connection()
    memo_id = connection.execute(
        _INSERT_MEMO,
        {
            "idempotency_key": request.idempotency_key,
            "account_id": account.id,
            "credit_id": request.credit_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            # The ledger applies a memo as soon as it is raised; a vendor may not.
            "status": MemoStatus.APPLIED,
            "created_at": now,
            "applied_at": now,
        },
    ).scalar_one()
    reference = memo_reference(memo_id)
    connection.execute(
        _INSERT_ENTRY,
        {
            "account_id": account.id,
            "memo_id": memo_id,
            "amount_minor": -request.amount_minor,
            "currency": request.currency,
            "description": f"{reference} {request.memo_text}"[:_DESCRIPTION_CHARS],
            "created_at": now,
        },
    )

    log.info(
        "ledger.memo_applied",
        memo=reference,
        account_id=account.id,
        credit_id=request.credit_id,
        amount_minor=request.amount_minor,
        currency=request.currency,
    )
    return PostingResult(
        external_ref=reference, applied=True, raw_status=MemoStatus.APPLIED.value
    )


_MEMOS = LedgerMemo.__table__
_INSERT_MEMO = sa.insert(_MEMOS).returning(_MEMOS.c.id)
_INSERT_ENTRY = sa.insert(LedgerEntry.__table__)


def _account_by_number(session: Session, number: str) -> Account | None:
    return session.scalars(
        sa.select(Account).where(Account.number == number)
    ).one_or_none()


def _valid_account(account: Account | None, request: PostingRequest) -> Account:
    if account is None or account.number != request.account_number:
        raise BillingRejectedError(
            f"the ledger has no account {request.account_number}"
        )
    if account.currency != request.currency:
        raise BillingRejectedError(
            f"account {account.number} is kept in {account.currency}, "
            f"not {request.currency}"
        )
    if request.amount_minor <= 0:
        raise BillingRejectedError("a credit memo needs a positive amount")
    return account


def _result(memo: LedgerMemo) -> PostingResult:
    return PostingResult(
        external_ref=memo.reference,
        applied=memo.status == MemoStatus.APPLIED,
        raw_status=memo.status.value,
    )


def _reverse(session: Session, request: VoidRequest, clock: Clock) -> LedgerMemo:
    memo = _memo_to_reverse(session, request)
    if memo.status == MemoStatus.REVERSED:
        log.info("ledger.memo_already_reversed", memo=memo.reference)
        return memo

    now = clock()
    session.add(
        LedgerEntry(
            account_id=memo.account_id,
            memo_id=memo.id,
            amount_minor=memo.amount_minor,
            currency=memo.currency,
            description=f"{memo.reference} reversed: {request.memo_text}"[
                :_DESCRIPTION_CHARS
            ],
            created_at=now,
        )
    )
    memo.status = MemoStatus.REVERSED
    memo.reversal_key = request.idempotency_key
    memo.reversed_at = now
    session.flush()

    log.info(
        "ledger.memo_reversed",
        memo=memo.reference,
        account_id=memo.account_id,
        credit_id=request.credit_id,
        amount_minor=memo.amount_minor,
        currency=memo.currency,
    )
    return memo


def _memo_to_reverse(session: Session, request: VoidRequest) -> LedgerMemo:
    memo_id = _memo_id(request.external_ref)
    query = sa.select(LedgerMemo).where(LedgerMemo.id == memo_id)
    if is_postgres(session):
        # Two voids with different keys must not both see it unreversed.
        query = query.with_for_update()
    memo = session.scalars(query).one_or_none()
    if memo is None or memo.credit_id != request.credit_id:
        raise BillingRejectedError(
            f"the ledger has no memo {request.external_ref} for credit "
            f"{request.credit_number}"
        )
    if (memo.amount_minor, memo.currency) != (request.amount_minor, request.currency):
        raise BillingRejectedError(
            f"memo {memo.reference} is for another amount than the void asks"
        )
    return memo


def _memo_id(reference: str) -> int | None:
    digits = reference.removeprefix("LM-")
    return int(digits) if digits.isdigit() else None


def _void_result(memo: LedgerMemo) -> VoidResult:
    return VoidResult(external_ref=memo.reference, raw_status=memo.status.value)
