"""Posting a generated credit: the outbox message, the ledger memo, and
now and then a failure or a void.

The built-in ledger raises and applies a memo in one go, so a credit that
posts is applied at the same moment; a posting that fails goes to billing
operations (finance), who void it a while later. A void of an applied credit
is ``voiding`` until the ledger has reversed the memo, then ``voided``.
"""

from creditdesk.demo.history_flow import Flow
from creditdesk.demo.history_rows import Outcome, Rows
from creditdesk.demo.history_time import DAY, HOUR

POSTING_FAILED_ERROR = "the ledger refused the memo: account is closed for billing"


class Posting:
    """Writes what the worker and the ledger would for approved credits."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.rng, self.ids, self.stamps = flow.rng, flow.ids, flow.stamps
        self.finance_ids = flow.finance_ids
        self.memos_by_month: dict[str, int] = {}
        self.sample_by_month: dict[str, list[tuple]] = {}

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
        credit_id, amount, currency, account_id, memo_text = credit
        text, now, rng = self.stamps.text, self.stamps.now, self.rng
        approved_at = outcome.updated
        message_id = self.ids.take("outbox_messages")
        started = approved_at + rng.randint(20, 600)
        payload = f'{{"credit_id": {credit_id}}}'

        # The ledger answers within seconds; whatever would end after now is
        # still waiting for the worker.
        if started + 4 > now:
            rows.add(
                "outbox_messages",
                (
                    message_id,
                    "credit.post",
                    payload,
                    "pending",
                    0,
                    text(approved_at),
                    None,
                    None,
                    None,
                    text(approved_at),
                    None,
                ),
            )
            return outcome

        if posting_fails:
            failed = started + rng.randint(10 * 60, 2 * HOUR)
            if failed > now:
                return self._retrying(rows, message_id, payload, outcome, started)
            rows.add(
                "outbox_messages",
                (
                    message_id,
                    "credit.post",
                    payload,
                    "dead",
                    5,
                    text(failed),
                    None,
                    None,
                    POSTING_FAILED_ERROR,
                    text(approved_at),
                    None,
                ),
            )
            voided = failed + rng.randint(HOUR, 3 * DAY)
            finance = rng.choice(self.finance_ids)
            self.flow.handoff(
                rows,
                (credit_id,),
                failed,
                kind="posting_failed",
                comment=POSTING_FAILED_ERROR,
                holders=self.finance_ids,
                done_by=finance,
                queue_role="finance",
                done_at=voided,
            )
            if voided <= now:
                # Voiding a dead posting cancels its message.
                last = rows.tables["outbox_messages"].pop()
                rows.add("outbox_messages", (*last[:3], "cancelled", *last[4:]))
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

        posted = started + rng.randint(1, 4)
        memo_id = self.ids.take("ledger_memos")
        reference = f"LM-{memo_id:08d}"
        key = f"outbox-{message_id}"
        rows.add(
            "outbox_messages",
            (
                message_id,
                "credit.post",
                payload,
                "delivered",
                1,
                text(approved_at),
                None,
                None,
                None,
                text(approved_at),
                text(posted),
            ),
        )
        rows.add(
            "ledger_entries",
            (
                self.ids.take("ledger_entries"),
                account_id,
                memo_id,
                -amount,
                currency,
                f"{reference} {memo_text}"[:200],
                text(posted),
            ),
        )
        month = text(posted)[:7]
        self.memos_by_month[month] = self.memos_by_month.get(month, 0) + 1
        sample = self.sample_by_month.setdefault(month, [])
        if len(sample) < 4 and rng.random() < 0.01:
            sample.append((credit_id, reference, key, amount, currency))

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
        voided = posted + rng.randint(DAY, 30 * DAY) if voids else now
        # The reversal takes up to two minutes; it has to be over by now.
        if voided + 120 > now:
            rows.add(
                "ledger_memos",
                (
                    memo_id,
                    key,
                    account_id,
                    credit_id,
                    amount,
                    currency,
                    "applied",
                    text(posted),
                    text(posted),
                    None,
                    None,
                ),
            )
            return applied

        void_id = self.ids.take("outbox_messages")
        reversed_at = voided + rng.randint(5, 120)
        rows.add(
            "outbox_messages",
            (
                void_id,
                "credit.void",
                payload,
                "delivered",
                1,
                text(voided),
                None,
                None,
                None,
                text(voided),
                text(reversed_at),
            ),
        )
        rows.add(
            "ledger_memos",
            (
                memo_id,
                key,
                account_id,
                credit_id,
                amount,
                currency,
                "reversed",
                text(posted),
                text(posted),
                f"outbox-{void_id}",
                text(reversed_at),
            ),
        )
        rows.add(
            "ledger_entries",
            (
                self.ids.take("ledger_entries"),
                account_id,
                memo_id,
                amount,
                currency,
                f"{reference} reversed: Credit {memo_text.split(' ')[1]} voided"[:200],
                text(reversed_at),
            ),
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
        rows.add(
            "outbox_messages",
            (
                message_id,
                "credit.post",
                payload,
                "pending",
                2,
                text(now + self.rng.randint(60, 900)),
                None,
                None,
                POSTING_FAILED_ERROR,
                text(outcome.updated),
                None,
            ),
        )
        return Outcome(
            "posting",
            outcome.version + 1,
            started,
            decided=outcome.decided,
            pending_until=outcome.pending_until,
        )
