"""The invoices of a generated history, and the team each account belongs to.

Pure, like ``history_org``: rows are tuples in ``history_columns.COLUMNS``
order. Every account with a contract is invoiced on the first of each month
of the history for the month before: a price per product, five times it on
a business plan, varied a little from month to month. The variation draws
on a generator of its own, seeded from the history's seed, so the rest of
the history is the same with or without invoices.
"""

import random as _random
from collections.abc import Iterator
from datetime import date, timedelta

from creditdesk.demo.history_org import Org
from creditdesk.demo.history_rows import Ids
from creditdesk.demo.history_time import Stamps

# Monthly prices in minor units (every history currency has two places).
PRICES = {"broadband": 3_800, "mobile": 1_900, "tv": 3_200}
BUSINESS_TIMES = 5
# A month's bill is the plan's price give or take this share (usage, extras).
VARIATION_PERCENT = 15
# Accounts whose invoices are written together: two years of 2,000 accounts
# make about as many rows as a chunk of the credits.
ACCOUNTS_A_LIST = 2_000


def with_teams(org: Org) -> list[tuple]:
    """The accounts' rows with their team: the agent teams in turn, so each
    looks after about as many customers."""
    teams = sorted({agent.team_id for agent in org.agents})
    return [(*row, teams[index % len(teams)]) for index, row in enumerate(org.accounts)]


def invoices(org: Org, stamps: Stamps, ids: Ids, *, seed: int) -> Iterator[list[tuple]]:
    """The invoices account by account, each account's months oldest first,
    in lists of up to ``ACCOUNTS_A_LIST`` accounts' rows.

    Rows come in the order of the invoices' unique key (account, reference),
    so each lands at the right-hand edge of its index: month by month, every
    row went somewhere inside it, and the load took a lookup from the root
    for each.
    """
    random = _random.Random(f"invoices-{seed}").random  # noqa: S311 - reproducible
    next_id = ids.taker("invoices")
    months = [_month(issued, stamps) for issued in _first_days(stamps)]
    billed = _billed(org)
    for start in range(0, len(billed), ACCOUNTS_A_LIST):
        yield [
            (
                next_id(),
                account_id,
                prefix + suffix,
                *dates,
                lowest + int(random() * choices),
                currency,
                None,
                created,
                team_id,
            )
            for account_id, prefix, lowest, choices, currency, team_id in billed[
                start : start + ACCOUNTS_A_LIST
            ]
            for suffix, dates, created in months
        ]


def _month(issued: date, stamps: Stamps) -> tuple[str, tuple[str, str, str], str]:
    """A month's reference suffix, its invoice's dates (issued, the period's
    first and last days) and creation time."""
    period_end = issued - timedelta(days=1)
    dates = (
        issued.isoformat(),
        period_end.replace(day=1).isoformat(),
        period_end.isoformat(),
    )
    return f"-{issued:%Y%m}", dates, stamps.text(_seconds(issued))


def _billed(org: Org) -> list[tuple[int, str, int, int, str, int]]:
    """Per invoiced account: its id, its references' prefix, the lowest
    amount of a month's bill and how many amounts from there, its currency
    and its team."""
    team_of = {row[0]: row[-1] for row in with_teams(org)}
    billed = []
    for customer in org.customers:
        if not customer.contracts:
            continue
        price = sum(PRICES[product] for product in customer.contracts)
        price *= BUSINESS_TIMES if customer.business else 1
        spread = price * VARIATION_PERCENT // 100
        prefix = f"HI-{customer.id:08d}"
        lowest, choices = price - spread, 2 * spread + 1
        team_id = team_of[customer.id]
        billed.append(
            (customer.id, prefix, lowest, choices, customer.currency, team_id)
        )
    return billed


def _first_days(stamps: Stamps) -> Iterator[date]:
    day = date.fromisoformat(stamps.date_text(stamps.start))
    day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    last = date.fromisoformat(stamps.date_text(stamps.now))
    while day <= last:
        yield day
        day = (day + timedelta(days=32)).replace(day=1)


def _seconds(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400
