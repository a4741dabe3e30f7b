"""A generated history's invoices and account teams, without a database."""

import random
from collections import Counter
from datetime import UTC, datetime

from creditdesk.demo.history_columns import COLUMNS, ORDER
from creditdesk.demo.history_invoices import (
    BUSINESS_TIMES,
    PRICES,
    VARIATION_PERCENT,
    invoices,
    with_teams,
)
from creditdesk.demo.history_org import build_org
from creditdesk.demo.history_rows import Ids
from creditdesk.demo.history_time import Stamps

NOW = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)


def _org(seed: int = 7):
    stamps = Stamps(NOW)
    bases = dict.fromkeys(ORDER, 1)
    org = build_org(random.Random(seed), scale=2_000, bases=bases, stamps=stamps)
    return org, stamps, Ids(bases)


def test_the_agent_teams_share_the_accounts_evenly():
    org, _, _ = _org()

    rows = with_teams(org)

    assert all(len(row) == len(COLUMNS["accounts"]) for row in rows)
    per_team = Counter(row[-1] for row in rows)
    assert set(per_team) == {agent.team_id for agent in org.agents}
    assert max(per_team.values()) - min(per_team.values()) <= 1


def test_every_contracted_account_is_invoiced_monthly_near_its_price():
    org, stamps, ids = _org()

    rows = [row for part in invoices(org, stamps, ids, seed=7) for row in part]

    # 730 days back from 2026-11-30: the first of December 2024 to November 2026.
    issued = sorted({row[3] for row in rows})
    assert (issued[0], issued[-1], len(issued)) == ("2024-12-01", "2026-11-01", 24)
    contracted = {c.id: c for c in org.customers if c.contracts}
    assert all(len(row) == len(COLUMNS["invoices"]) for row in rows)
    assert {row[1] for row in rows} == set(contracted)
    assert len({(row[1], row[2]) for row in rows}) == len(rows)
    for row in rows:
        customer = contracted[row[1]]
        price = sum(PRICES[p] for p in customer.contracts)
        price *= BUSINESS_TIMES if customer.business else 1
        assert abs(row[6] - price) <= price * VARIATION_PERCENT // 100
        assert row[7] == customer.currency


def test_the_invoices_come_in_the_order_of_their_unique_key():
    org, stamps, ids = _org()

    rows = [row for part in invoices(org, stamps, ids, seed=7) for row in part]

    keys = [(row[1], row[2]) for row in rows]
    assert keys == sorted(keys)
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)


def test_the_invoices_are_the_same_for_a_seed():
    first = list(invoices(*_org(), seed=3))
    again = list(invoices(*_org(), seed=3))
    other = list(invoices(*_org(), seed=4))

    assert first == again
    assert first != other
