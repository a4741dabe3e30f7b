"""What happens to one generated credit after the policy judged it.

An approval chain decided step by step (or still waiting), and the work
handed back to the agent or to billing operations (the posting itself is in
``history_posting``). Each move is one the state machine in
``credits.lifecycle`` allows, at a time after the one before; whatever would
happen after the history's "now" has not happened yet.
"""

import random
from dataclasses import dataclass

from creditdesk.demo.history_draws import between, lognormal, pick
from creditdesk.demo.history_rows import Ids, Outcome, Rows, Step
from creditdesk.demo.history_time import DAY, HOUR, Stamps

# How long a person takes over an approval: minutes to days, mostly hours.
TURNAROUND_MEDIAN_SECONDS = 3 * HOUR
# Deadlines are business hours; eight of them are about a calendar day.
BUSINESS_TO_WALL = 3

REJECT_COMMENTS = (
    "Not supported by the invoice; please check the billing history.",
    "Already credited on an earlier case.",
    "Outside the goodwill guidelines for this customer.",
    "Duplicate of a credit raised this week.",
)


class Flow:
    """Writes the rows of a credit's life after its judgement."""

    def __init__(
        self,
        rng: random.Random,
        ids: Ids,
        stamps: Stamps,
        finance_ids: list[int],
    ) -> None:
        self.random = rng.random
        self.ids = ids
        self.stamps = stamps
        self.finance_ids = finance_ids
        self._next_request = ids.taker("approval_requests")
        self._next_step = ids.taker("approval_steps")
        self._next_item = ids.taker("work_items")

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
        run = _Run(
            request_id=self._next_request(),
            step_ids=[self._next_step() for _ in chain],
            statuses=["waiting"] * len(chain),
            settled_by=[None] * len(chain),
            comments=[None] * len(chain),
            assigned=[None] * len(chain),
            decided=[None] * len(chain),
        )
        recall_at = None
        if self.random() < recall_odds:
            recall_at = t0 + self._turnaround() // 2

        result, at, index = self._walk(
            rows, credit, chain, approvers, run, recall_at, reject_odds
        )
        self._write_chain(rows, credit_id, t0, chain, run, result, at)

        if result == "pending":
            return Outcome("pending_approval", 1, t0, pending_until=None)
        if result == "recalled":
            return Outcome("recalled", 2, at, settled=at, pending_until=at)
        if result == "rejected":
            self.handoff(
                rows,
                credit,
                at,
                kind="rejected",
                comment=run.comments[index],
                holders=[requester],
                done_by=requester,
            )
            return Outcome("rejected", 2, at, decided=at, settled=at, pending_until=at)
        return Outcome("approved", 2, at, decided=at, pending_until=at)

    def _walk(
        self,
        rows: Rows,
        credit: tuple,
        chain: list[Step],
        approvers: list[list[int]],
        run: "_Run",
        recall_at: int | None,
        reject_odds: float,
    ) -> tuple[str, int, int]:
        """Decide the steps in turn until one rejects, the agent recalls the
        credit, or the next decision would come after now."""
        now, random = self.stamps.now, self.random
        at, index = credit[1], 0
        for index, step in enumerate(chain):
            run.assigned[index] = at
            decision_at = at + self._turnaround()
            holders, step_id = approvers[index], run.step_ids[index]
            # The agent withdrew it before anyone decided (by now).
            if recall_at is not None and recall_at < decision_at and recall_at <= now:
                self._items(
                    rows,
                    credit,
                    step,
                    step_id,
                    holders,
                    assigned=at,
                    closed=recall_at,
                    status="recalled",
                )
                for later in range(index, len(chain)):
                    run.statuses[later] = "recalled"
                    run.decided[later] = recall_at
                return "recalled", recall_at, index
            if decision_at > now:
                run.statuses[index] = "pending"
                self._items(
                    rows,
                    credit,
                    step,
                    step_id,
                    holders,
                    assigned=at,
                    closed=None,
                    status="pending",
                )
                return "pending", at, index
            approve = random() >= reject_odds
            status = "approved" if approve else "rejected"
            decider = self._items(
                rows,
                credit,
                step,
                step_id,
                holders,
                assigned=at,
                closed=decision_at,
                status=status,
            )
            run.statuses[index] = status
            run.settled_by[index], run.decided[index] = decider, decision_at
            at = decision_at
            if not approve:
                run.comments[index] = pick(random, REJECT_COMMENTS)
                for later in range(index + 1, len(chain)):
                    run.statuses[later] = "skipped"
                return "rejected", at, index
        return "approved", at, index

    def _write_chain(
        self,
        rows: Rows,
        credit_id: int,
        t0: int,
        chain: list[Step],
        run: "_Run",
        result: str,
        at: int,
    ) -> None:
        text = self.stamps.text
        created = text(t0)
        completed = None if result == "pending" else text(at)
        rows.approval_requests.extend(
            (run.request_id, credit_id, result, created, completed)
        )
        for index, step in enumerate(chain):
            assigned, decided = run.assigned[index], run.decided[index]
            rows.approval_steps.extend(
                (
                    run.step_ids[index],
                    run.request_id,
                    credit_id,
                    index + 1,
                    step.label,
                    step.mode,
                    step.config,
                    run.statuses[index],
                    run.settled_by[index],
                    run.comments[index],
                    None if assigned is None else text(assigned),
                    None if decided is None else text(decided),
                    created,
                )
            )

    def _turnaround(self) -> int:
        seconds = int(lognormal(self.random, 1.1) * TURNAROUND_MEDIAN_SECONDS)
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
        decider = pick(self.random, holders) if holders else None
        answered = status in ("approved", "rejected")
        assigned_text = text(assigned)
        due_text = text(due) if step.deadline_minutes else None
        closed_text = None if closed is None else text(closed)
        elapsed = None if closed is None else closed - assigned
        reminded = (
            text(remind)
            if remind is not None and (closed or self.stamps.now) > remind
            else None
        )
        remind_text = text(remind) if remind is not None and closed is None else None
        for holder in holders or [None]:
            mine = holder == decider
            rows.work_items.extend(
                (
                    self._next_item(),
                    "approval",
                    credit_id,
                    step_id,
                    holder,
                    step.queue_role,
                    holder,
                    "policy",
                    status if (mine or not answered) else "no_response",
                    assigned_text,
                    due_text,
                    remind_text,
                    reminded,
                    None,
                    closed_text,
                    holder if mine and answered else None,
                    elapsed,
                    None,
                    assigned_text,
                )
            )
        return decider

    def handoff(
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
            done_at = at + between(self.random, HOUR, 2 * DAY)
        finished = done_at <= now
        handed = text(at)
        done = text(done_at) if finished else None
        for index, holder in enumerate(holders):
            first = index == 0
            status = ("done" if first else "no_response") if finished else "pending"
            rows.work_items.extend(
                (
                    self._next_item(),
                    kind,
                    credit[0],
                    None,
                    holder,
                    queue_role,
                    holder,
                    "handoff",
                    status,
                    handed,
                    None,
                    None,
                    None,
                    None,
                    done,
                    done_by if finished and first else None,
                    done_at - at if finished else None,
                    comment,
                    handed,
                )
            )


@dataclass(slots=True)
class _Run:
    """One approval request as it is decided: per step, in chain order."""

    request_id: int
    step_ids: list[int]
    statuses: list[str]
    settled_by: list[int | None]
    comments: list[str | None]
    assigned: list[int | None]
    decided: list[int | None]
