"""Matching one vendor memo with our credits, and how a finding says what
differs.

A memo matches the credit posted under its idempotency key (or, failing
that, its external reference); it is mismatched when the amount, currency
or account differ, and untracked when no credit of ours stands behind it.
"""

import re
from dataclasses import dataclass
from typing import Any

from creditdesk.reconciliation.models import FindingKind
from creditdesk.reconciliation.sources import VendorMemo

# How a finding's detail says the amounts differ, and the same said without
# them for a reader whose credit amount is hidden.
AMOUNT_DIFFERS = "amount {} there, {} here (minor units)"
_AMOUNT_DIFFERS = re.compile(r"amount -?\d+ there, -?\d+ here \(minor units\)")


def without_amounts(detail: str) -> str:
    """``detail`` with any amounts it quotes left out."""
    return _AMOUNT_DIFFERS.sub("amount differs", detail)


@dataclass(slots=True)
class Ours:
    """One of our credits, as little as matching needs."""

    credit_id: int
    amount_minor: int
    currency: str
    account_ref: str | None
    external_ref: str | None
    in_period: bool
    status: str
    seen: bool = False

    @property
    def is_missing(self) -> bool:
        """Approved in the period, and no memo matched it."""
        return self.in_period and not self.seen


def match(
    memo: VendorMemo,
    ours: dict[int, Ours],
    by_key: dict[str, int],
    by_ref: dict[str, int],
    counts: dict[str, int],
) -> dict[str, Any] | None:
    """The finding ``memo`` makes against our credits, None when it matches
    one; ``counts`` keeps the tally of matched, untracked and mismatched."""
    credit_id = by_key.get(_bare_key(memo.idempotency_key))
    if credit_id is None:
        credit_id = by_ref.get(memo.external_ref)
    credit = ours.get(credit_id) if credit_id is not None else None
    if credit is None:
        counts["untracked"] += 1
        return _finding(FindingKind.UNTRACKED, memo, None, "no approved credit here")

    credit.seen = True
    differences = _differences(memo, credit)
    if not differences:
        counts["matched"] += 1
        return None
    counts["mismatched"] += 1
    return _finding(FindingKind.MISMATCHED, memo, credit, "; ".join(differences))


def _bare_key(key: str | None) -> str | None:
    # Vendors may keep a prefix before our key (SAP's key prefix, say).
    if key is None:
        return None
    at = key.find("outbox-")
    return key[at:] if at >= 0 else key


def _differences(memo: VendorMemo, credit: Ours) -> list[str]:
    found = []
    if memo.currency != credit.currency:
        found.append(f"currency {memo.currency} there, {credit.currency} here")
    if memo.amount_minor != credit.amount_minor:
        found.append(AMOUNT_DIFFERS.format(memo.amount_minor, credit.amount_minor))
    if (
        memo.account_ref
        and credit.account_ref
        and memo.account_ref != credit.account_ref
    ):
        found.append(f"account {memo.account_ref} there, {credit.account_ref} here")
    return found


def missing_finding(credit: Ours) -> dict[str, Any]:
    """The finding of a credit approved here that no memo matched."""
    return {
        "kind": FindingKind.MISSING,
        "credit_id": credit.credit_id,
        "external_ref": credit.external_ref,
        "idempotency_key": None,
        "our_amount_minor": credit.amount_minor,
        "our_currency": credit.currency,
        "vendor_amount_minor": None,
        "vendor_currency": None,
        "detail": f"approved here ({credit.status}), absent there",
    }


def _finding(
    kind: FindingKind, memo: VendorMemo, credit: Ours | None, detail: str
) -> dict[str, Any]:
    return {
        "kind": kind,
        "credit_id": credit.credit_id if credit else None,
        "external_ref": memo.external_ref,
        "idempotency_key": memo.idempotency_key,
        "our_amount_minor": credit.amount_minor if credit else None,
        "our_currency": credit.currency if credit else None,
        "vendor_amount_minor": memo.amount_minor,
        "vendor_currency": memo.currency,
        "detail": detail[:500],
    }
