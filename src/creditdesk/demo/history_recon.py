"""Monthly reconciliation runs of the built-in ledger, with a few findings."""

import random
from datetime import UTC, date, datetime, timedelta

from creditdesk.demo.history_org import Org
from creditdesk.demo.history_posting import Posting
from creditdesk.demo.history_rows import Ids, Rows
from creditdesk.demo.history_time import DAY, Stamps


class Reconciliation:
    def __init__(
        self, rng: random.Random, ids: Ids, stamps: Stamps, org: Org, posting: Posting
    ) -> None:
        self.rng, self.ids, self.stamps, self.org = rng, ids, stamps, org
        self.posting = posting

    def runs(self, out: Rows) -> None:
        """A monthly ledger run for every finished month, with a few findings."""
        rng, text, flow = self.rng, self.stamps.text, self.posting
        finance = {row[0]: row[1] for row in self.org.users if row[4] == "finance"}
        current = text(self.stamps.now)[:7]
        for month in sorted(flow.memos_by_month):
            if month >= current:
                continue
            start = date.fromisoformat(f"{month}-01")
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            started = (
                int(datetime(end.year, end.month, end.day, 6, tzinfo=UTC).timestamp())
                + DAY
                + rng.randint(0, 3 * 3_600)
            )
            run_id = self.ids.take("reconciliation_runs")
            memos = flow.memos_by_month[month]
            counts = {"untracked": 0, "missing": 0, "mismatched": 0}
            for sample in flow.sample_by_month.get(month, [])[: rng.randint(0, 3)]:
                kind = rng.choice(tuple(counts))
                counts[kind] += 1
                out.reconciliation_findings.extend(
                    _finding(self.ids, run_id, kind, sample)
                )
            user_id = rng.choice(list(finance))
            matched = memos - counts["mismatched"] - counts["missing"]
            out.reconciliation_runs.extend(
                (
                    run_id,
                    "ledger",
                    start.isoformat(),
                    end.isoformat(),
                    "completed",
                    memos,
                    max(matched, 0),
                    counts["untracked"],
                    counts["missing"],
                    counts["mismatched"],
                    None,
                    user_id,
                    finance[user_id],
                    text(started),
                    text(started + rng.randint(60, 900)),
                )
            )


def _finding(ids: Ids, run_id: int, kind: str, sample: tuple) -> tuple:
    credit_id, reference, key, amount, currency = sample
    finding_id = ids.take("reconciliation_findings")
    if kind == "untracked":
        return (
            finding_id,
            run_id,
            kind,
            None,
            f"LM-9{credit_id:07d}",
            None,
            None,
            None,
            amount,
            currency,
            "the ledger has a memo that no approved credit here accounts for",
        )
    if kind == "missing":
        return (
            finding_id,
            run_id,
            kind,
            credit_id,
            None,
            key,
            amount,
            currency,
            None,
            None,
            "approved here, but the ledger had no memo for its key",
        )
    return (
        finding_id,
        run_id,
        kind,
        credit_id,
        reference,
        key,
        amount,
        currency,
        amount - 100,
        currency,
        "the ledger's memo is for a different amount than the credit",
    )
