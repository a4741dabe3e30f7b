"""Posting a generated credit: the outbox message, the ledger memo, and
now and then a failure or a void.

The built-in ledger raises and applies a memo in one go, so a credit that
posts is applied at the same moment; a posting that fails goes to billing
operations (finance), who void it a while later. A void of an applied credit
is ``voiding`` until the ledger has reversed the memo, then ``voided``.
"""

from creditdesk.demo.history_draws import between, pick
from creditdesk.demo.history_flow import Flow
from creditdesk.demo.history_rows import Outcome, Rows
from creditdesk.demo.history_time import DAY, HOUR

POSTING_FAILED_ERROR = "the ledger refused the memo: account is closed for billing"


class Posting:
    """Writes what the worker and the ledger would for approved credits."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.random, self.ids, self.stamps = flow.random, flow.ids, flow.stamps
        self.finance_ids = flow.finance_ids
        self.memos_by_month: dict[str, int] = {}
        self.sample_by_month: dict[str, list[tuple]] = {}
        self._next_message = self.ids.taker("outbox_messages")
        self._next_memo = self.ids.taker("ledger_memos")
        self._next_entry = self.ids.taker("ledger_entries")

    def posting(
        self,
        rows: Rows,
        credit: tuple,
        outcome: Outcome,
        *,
        posting_fails: bool,
        voids: bool,
    ) -> Outcome:
        """Queue the posting at the approval; the worker posts it minutes later."""
        credit_id = credit[0]
        now, random = self.stamps.now, self.random
        approved_at = outcome.updated
        message_id = self._next_message()
        started = approved_at + between(random, 20, 600)
        payload = f'{{"credit_id": {credit_id}}}'

        # The ledger answers within seconds; whatever would end after now is
        # still waiting for the worker.
        if started + 4 > now:
            approved = self.stamps.text(approved_at)
            rows.outbox_messages.extend(
                (
                    message_id,
                    "credit.post",
                    payload,
                    "pending",
                    0,
                    approved,
                    None,
                    None,
                    None,
                    approved,
                    None,
                )
            )
            return outcome
        if posting_fails:
            return self._failed(rows, credit, outcome, message_id, payload, started)
        posting = (message_id, payload, started)
        return self._applied(rows, credit, outcome, posting, voids=voids)

    def _failed(
        self,
        rows: Rows,
        credit: tuple,
        outcome: Outcome,
        message_id: int,
        payload: str,
        started: int,
    ) -> Outcome:
        """The ledger refuses the memo; billing operations void the credit."""
        text, now, random = self.stamps.text, self.stamps.now, self.random
        failed = started + between(random, 10 * 60, 2 * HOUR)
        if failed > now:
            return self._retrying(rows, message_id, payload, outcome, started)
        voided = failed + between(random, HOUR, 3 * DAY)
        # Voiding a dead posting cancels its message.
        rows.outbox_messages.extend(
            (
                message_id,
                "credit.post",
                payload,
                "cancelled" if voided <= now else "dead",
                5,
                text(failed),
                None,
                None,
                POSTING_FAILED_ERROR,
                text(outcome.updated),
                None,
            )
        )
        self.flow.handoff(
            rows,
            (credit[0],),
            failed,
            kind="posting_failed",
            comment=POSTING_FAILED_ERROR,
            holders=self.finance_ids,
            done_by=pick(random, self.finance_ids),
            queue_role="finance",
            done_at=voided,
        )
        if voided <= now:
            return Outcome(
                "voided",
                outcome.version + 3,
                voided,
                decided=outcome.decided,
                last_error=POSTING_FAILED_ERROR,
                settled=voided,
                pending_until=outcome.pending_until,
            )
        return Outcome(
            "posting_failed",
            outcome.version + 2,
            failed,
            decided=outcome.decided,
            last_error=POSTING_FAILED_ERROR,
            pending_until=outcome.pending_until,
        )

    def _applied(
        self,
        rows: Rows,
        credit: tuple,
        outcome: Outcome,
        posting: tuple[int, str, int],
        *,
        voids: bool,
    ) -> Outcome:
        """Posted and applied; voided and reversed later if ``voids``."""
        credit_id, amount, currency, account_id, memo_text = credit
        message_id, payload, started = posting
        text, random = self.stamps.text, self.random
        posted = started + between(random, 1, 4)
        posted_text = text(posted)
        approved = text(outcome.updated)
        memo_id = self._next_memo()
        reference = f"LM-{memo_id:08d}"
        key = f"outbox-{message_id}"
        rows.outbox_messages.extend(
            (
                message_id,
                "credit.post",
                payload,
                "delivered",
                1,
                approved,
                None,
                None,
                None,
                approved,
                posted_text,
            )
        )
        rows.ledger_entries.extend(
            (
                self._next_entry(),
                account_id,
                memo_id,
                -amount,
                currency,
                f"{reference} {memo_text}"[:200],
                posted_text,
            )
        )
        self._count(posted_text[:7], (credit_id, reference, key, amount, currency))

        applied = Outcome(
            "applied",
            outcome.version + 3,
            posted,
            decided=outcome.decided,
            posted=posted,
            applied=posted,
            external_ref=reference,
            settled=posted,
            pending_until=outcome.pending_until,
        )
        memo = (memo_id, key, account_id, credit_id, amount, currency)
        voided = posted + between(random, DAY, 30 * DAY) if voids else self.stamps.now
        # The reversal takes up to two minutes; it has to be over by now.
        if voided + 120 > self.stamps.now:
            rows.ledger_memos.extend(
                (*memo, "applied", posted_text, posted_text, None, None)
            )
            return applied
        return self._reversed(rows, credit, memo, posted_text, applied, voided)

    def _count(self, month: str, sample: tuple) -> None:
        """Count the month's memos, and keep a few for reconciliation to find."""
        self.memos_by_month[month] = self.memos_by_month.get(month, 0) + 1
        kept = self.sample_by_month.setdefault(month, [])
        if len(kept) < 4 and self.random() < 0.01:
            kept.append(sample)

    def _reversed(
        self,
        rows: Rows,
        credit: tuple,
        memo: tuple,
        posted_text: str,
        applied: Outcome,
        voided: int,
    ) -> Outcome:
        """The credit voided after it applied: the ledger reverses its memo."""
        credit_id, amount, currency, account_id, memo_text = credit
        text = self.stamps.text
        number = memo_text.split(" ")[1]
        void_id = self._next_message()
        reversed_at = voided + between(self.random, 5, 120)
        voided_text, reversed_text = text(voided), text(reversed_at)
        rows.outbox_messages.extend(
            (
                void_id,
                "credit.void",
                f'{{"credit_id": {credit_id}}}',
                "delivered",
                1,
                voided_text,
                None,
                None,
                None,
                voided_text,
                reversed_text,
            )
        )
        rows.ledger_memos.extend(
            (
                *memo,
                "reversed",
                posted_text,
                posted_text,
                f"outbox-{void_id}",
                reversed_text,
            )
        )
        rows.ledger_entries.extend(
            (
                self._next_entry(),
                account_id,
                memo[0],
                amount,
                currency,
                f"{applied.external_ref} reversed: Credit {number} voided"[:200],
                reversed_text,
            )
        )
        # Voiding, then voided once the ledger confirms the reversal.
        applied.status, applied.version, applied.updated = (
            "voided",
            applied.version + 2,
            reversed_at,
        )
        return applied

    def _retrying(
        self, rows: Rows, message_id: int, payload: str, outcome: Outcome, started: int
    ) -> Outcome:
        """A posting that keeps failing and is still being retried."""
        text, now = self.stamps.text, self.stamps.now
        rows.outbox_messages.extend(
            (
                message_id,
                "credit.post",
                payload,
                "pending",
                2,
                text(now + between(self.random, 60, 900)),
                None,
                None,
                POSTING_FAILED_ERROR,
                text(outcome.updated),
                None,
            )
        )
        return Outcome(
            "posting",
            outcome.version + 1,
            started,
            decided=outcome.decided,
            pending_until=outcome.pending_until,
        )
