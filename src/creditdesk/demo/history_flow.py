"""What happens to one generated credit after the policy judged it.

An approval chain decided step by step (or still waiting), the posting through
the outbox to the built-in ledger (or its failure and the handoff to billing
operations), and now and then a void. Each move is one the state machine in
``credits.lifecycle`` allows, at a time after the one before; whatever would
happen after the history's "now" has not happened yet.
"""

import random
from dataclasses import dataclass, field

from creditdesk.demo.history_time import DAY, HOUR, Stamps

# How long a person takes over an approval: minutes to days, mostly hours.
TURNAROUND_MEDIAN_SECONDS = 3 * HOUR
# Deadlines are business hours; eight of them are about a calendar day.
BUSINESS_TO_WALL = 3

POSTING_FAILED_ERROR = "the ledger refused the memo: account is closed for billing"
REJECT_COMMENTS = (
    "Not supported by the invoice; please check the billing history.",
    "Already credited on an earlier case.",
    "Outside the goodwill guidelines for this customer.",
    "Duplicate of a credit raised this week.",
)
VOID_REASON = "Credited in error: the customer was billed correctly."


class Ids:
    """The next free id of every table the history writes."""

    def __init__(self, bases: dict[str, int]) -> None:
        self.next = dict(bases)

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


@dataclass
class Rows:
    """Rows waiting to be written, per table, in ``history_write`` order."""

    tables: dict[str, list[tuple]] = field(default_factory=dict)

    def add(self, table: str, row: tuple) -> None:
        self.tables.setdefault(table, []).append(row)

    def extend(self, other: "Rows") -> None:
        for table, rows in other.tables.items():
            self.tables.setdefault(table, []).extend(rows)

    def count(self, table: str) -> int:
        return len(self.tables.get(table, ()))


@dataclass(slots=True)
class Step:
    """A policy step as the history uses it: its stored text and who holds it."""

    label: str
    mode: str
    config: str
    deadline_minutes: int
    remind_before_minutes: int
    # "manager" levels up the reporting line, or a queue role.
    level: int
    queue_role: str | None


@dataclass(slots=True)
class Outcome:
    """Where the credit ended up, and when (seconds; None: not yet)."""

    status: str
    version: int
    updated: int
    decided: int | None = None
    posted: int | None = None
    applied: int | None = None
    external_ref: str | None = None
    last_error: str | None = None
    # When it reached a status that never moves again; an applied credit that
    # is voided later counts as settled when it was applied.
    settled: int | None = None
    pending_until: int | None = None


class Flow:
    """Writes the rows of a credit's life after its judgement."""

    def __init__(
        self,
        rng: random.Random,
        ids: Ids,
        stamps: Stamps,
        finance_ids: list[int],
    ) -> None:
        self.rng = rng
        self.ids = ids
        self.stamps = stamps
        self.finance_ids = finance_ids
        self.memos_by_month: dict[str, int] = {}
        self.sample_by_month: dict[str, list[tuple]] = {}

    # Approvals

    def approval(
        self,
        rows: Rows,
        credit: tuple,
        chain: list[Step],
        approvers: list[list[int]],
        *,
        reject_odds: float,
        recall_odds: float,
    ) -> Outcome:
        """Open the chain at the credit's creation and decide it step by step."""
        credit_id, t0, requester = credit
        now, text, rng = self.stamps.now, self.stamps.text, self.rng
        request_id = self.ids.take("approval_requests")
        step_ids = [self.ids.take("approval_steps") for _ in chain]
        statuses = ["waiting"] * len(chain)
        settled_by: list[int | None] = [None] * len(chain)
        comments: list[str | None] = [None] * len(chain)
        assigned: list[int | None] = [None] * len(chain)
        decided: list[int | None] = [None] * len(chain)
        recall_at = t0 + self._turnaround() // 2 if rng.random() < recall_odds else None

        at, result = t0, "pending"
        for index, step in enumerate(chain):
            assigned[index] = at
            decision_at = at + self._turnaround()
            # The agent withdrew it before anyone decided (by now).
            if recall_at is not None and recall_at < decision_at and recall_at <= now:
                result, at = "recalled", recall_at
                self._items(
                    rows,
                    credit,
                    step,
                    step_ids[index],
                    approvers[index],
                    assigned=assigned[index],
                    closed=at,
                    status="recalled",
                )
                statuses[index] = "recalled"
                decided[index] = at
                for later in range(index + 1, len(chain)):
                    statuses[later] = "recalled"
                    decided[later] = at
                break
            if decision_at > now:
                statuses[index] = "pending"
                self._items(
                    rows,
                    credit,
                    step,
                    step_ids[index],
                    approvers[index],
                    assigned=at,
                    closed=None,
                    status="pending",
                )
                break
            approve = rng.random() >= reject_odds
            decider = self._items(
                rows,
                credit,
                step,
                step_ids[index],
                approvers[index],
                assigned=at,
                closed=decision_at,
                status="approved" if approve else "rejected",
            )
            statuses[index] = "approved" if approve else "rejected"
            settled_by[index], decided[index] = decider, decision_at
            at = decision_at
            if not approve:
                comments[index] = rng.choice(REJECT_COMMENTS)
                for later in range(index + 1, len(chain)):
                    statuses[later] = "skipped"
                result = "rejected"
                break
        else:
            result = "approved"

        completed = None if result == "pending" else at
        rows.add(
            "approval_requests",
            (
                request_id,
                credit_id,
                result,
                text(t0),
                None if completed is None else text(completed),
            ),
        )
        for index, step in enumerate(chain):
            rows.add(
                "approval_steps",
                (
                    step_ids[index],
                    request_id,
                    credit_id,
                    index + 1,
                    step.label,
                    step.mode,
                    step.config,
                    statuses[index],
                    settled_by[index],
                    comments[index],
                    None if assigned[index] is None else text(assigned[index]),
                    None if decided[index] is None else text(decided[index]),
                    text(t0),
                ),
            )

        if result == "pending":
            return Outcome("pending_approval", 1, t0, pending_until=None)
        if result == "recalled":
            return Outcome("recalled", 2, at, settled=at, pending_until=at)
        if result == "rejected":
            self._handoff(
                rows,
                credit,
                at,
                kind="rejected",
                comment=comments[index],
                holders=[requester],
                done_by=requester,
            )
            return Outcome("rejected", 2, at, decided=at, settled=at, pending_until=at)
        return Outcome("approved", 2, at, decided=at, pending_until=at)

    def _turnaround(self) -> int:
        seconds = int(self.rng.lognormvariate(0, 1.1) * TURNAROUND_MEDIAN_SECONDS)
        return max(90, min(seconds, 6 * DAY))

    def _items(
        self,
        rows: Rows,
        credit: tuple,
        step: Step,
        step_id: int,
        holders: list[int],
        *,
        assigned: int,
        closed: int | None,
        status: str,
    ) -> int | None:
        """One item per holder; the first holder answers for a group."""
        credit_id = credit[0]
        text = self.stamps.text
        due = assigned + step.deadline_minutes * 60 * BUSINESS_TO_WALL
        remind = (
            due - step.remind_before_minutes * 60 * BUSINESS_TO_WALL
            if step.deadline_minutes and step.remind_before_minutes
            else None
        )
        decider = holders[self.rng.randrange(len(holders))] if holders else None
        for holder in holders or [None]:
            answered = status in ("approved", "rejected")
            mine = holder == decider
            item_status = status if (mine or not answered) else "no_response"
            reminded = (
                remind
                if remind is not None and (closed or self.stamps.now) > remind
                else None
            )
            rows.add(
                "work_items",
                (
                    self.ids.take("work_items"),
                    "approval",
                    credit_id,
                    step_id,
                    holder,
                    step.queue_role,
                    holder,
                    "policy",
                    item_status,
                    text(assigned),
                    text(due) if step.deadline_minutes else None,
                    text(remind) if remind is not None and closed is None else None,
                    text(reminded) if reminded is not None else None,
                    None,
                    None if closed is None else text(closed),
                    holder if mine and answered else None,
                    None if closed is None else closed - assigned,
                    None,
                    text(assigned),
                ),
            )
        return decider

    def _handoff(
        self,
        rows: Rows,
        credit: tuple,
        at: int,
        *,
        kind: str,
        comment: str | None,
        holders: list[int],
        done_by: int | None,
        queue_role: str | None = None,
        done_at: int | None = None,
    ) -> None:
        """Work handed to the agent or billing operations; done a while later."""
        text, now = self.stamps.text, self.stamps.now
        if done_at is None:
            done_at = at + self.rng.randint(HOUR, 2 * DAY)
        finished = done_at <= now
        for index, holder in enumerate(holders):
            first = index == 0
            status = ("done" if first else "no_response") if finished else "pending"
            rows.add(
                "work_items",
                (
                    self.ids.take("work_items"),
                    kind,
                    credit[0],
                    None,
                    holder,
                    queue_role,
                    holder,
                    "handoff",
                    status,
                    text(at),
                    None,
                    None,
                    None,
                    None,
                    text(done_at) if finished else None,
                    done_by if finished and first else None,
                    done_at - at if finished else None,
                    comment,
                    text(at),
                ),
            )

    # Posting

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

        if started > now:
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
            self._handoff(
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
        voided = posted + rng.randint(DAY, 30 * DAY) if voids else now + 1
        if voided > now:
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
        applied.status, applied.version, applied.updated = (
            "voided",
            applied.version + 1,
            voided,
        )
        return applied
