"""The credit form on the case page: its choices, its values, its errors.

The form posts the same fields as ``POST /api/v1/credits`` and is parsed by
the same ``CreditIn`` model, so an amount, a currency or a justification is
judged alike on a page and through the API.
"""

import secrets
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.orm import Session

from creditdesk.access import fields
from creditdesk.access.service import Permission, can
from creditdesk.accounts.models import Account
from creditdesk.cases.models import Case
from creditdesk.credits.schemas import JUSTIFICATION_MAX, JUSTIFICATION_MIN, CreditIn
from creditdesk.errors import FieldIssue, ValidationFailed
from creditdesk.policy import service as policy
from creditdesk.users.models import User

FIELDS = ("amount", "type", "reason", "justification", "product", "invoice_ref")

# The policy does not read the justification; while the agent is still
# typing one, the preview judges the rest of the form with this in its place.
_STAND_IN = "x" * JUSTIFICATION_MIN


@dataclass
class CreditForm:
    """What the credit form template needs."""

    case_id: int
    currency: str
    types: list[tuple[str, str]]
    reasons: list[tuple[str, str]]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    justification_min: int = JUSTIFICATION_MIN
    justification_max: int = JUSTIFICATION_MAX


def may_raise(session: Session, user: User) -> bool:
    """Whether the form is offered at all: the role may raise credits and
    set the amount and justification (a junior agent may not)."""
    if not can(user, Permission.CREATE_CREDIT):
        return False
    view = fields.view_for(session, user)
    return view.can_edit("amount") and view.can_edit("justification")


def blank(session: Session, case: Case, account: Account) -> CreditForm:
    """An empty form for ``case``, with the active policy's types and reasons."""
    active = policy.active_policy(session).policy
    values = dict.fromkeys(FIELDS, "")
    values["product"] = case.product or ""
    values["invoice_ref"] = case.invoice_ref or ""
    return CreditForm(
        case_id=case.id,
        currency=account.currency,
        types=[(code, item.label) for code, item in active.credit_types.items()],
        reasons=[(code, item.label) for code, item in active.reason_codes.items()],
        values=values,
    )


@dataclass(frozen=True, slots=True)
class Labels:
    """People's names for credit types and reason codes."""

    types: dict[str, str]
    reasons: dict[str, str]


def labels(session: Session, version: int | None = None) -> Labels:
    """The names in ``version`` of the policy, or in the one in force."""
    if version is None:
        found = policy.active_policy(session).policy
    else:
        found = policy.policy_version(session, version).policy
    return Labels(
        types={code: item.label for code, item in found.credit_types.items()},
        reasons={code: item.label for code, item in found.reason_codes.items()},
    )


def filled(form: CreditForm, posted: dict[str, str]) -> CreditForm:
    """``form`` showing what was posted (a new idempotency key comes with it)."""
    form.values = {name: posted.get(name, "") for name in FIELDS}
    return form


def parse(case_id: int, currency: str, posted: dict[str, str]) -> CreditIn:
    """The posted form as a ``CreditIn``, or ValidationFailed naming each
    field at fault. Empty optional fields are left out."""
    body: dict[str, object] = {
        "case_id": case_id,
        "currency": currency,
        "amount": posted.get("amount", "").strip(),
        "type": posted.get("type", ""),
        "reason": posted.get("reason", ""),
        "justification": posted.get("justification", ""),
    }
    for optional in ("product", "invoice_ref"):
        value = posted.get(optional, "").strip()
        if value:
            body[optional] = value
    try:
        return CreditIn.model_validate(body)
    except ValidationError as exc:
        raise _failed(exc) from None


def for_preview(case_id: int, currency: str, posted: dict[str, str]) -> CreditIn:
    """Like :func:`parse`, with a stand-in for a justification still short."""
    posted = dict(posted)
    if len(posted.get("justification", "").strip()) < JUSTIFICATION_MIN:
        posted["justification"] = _STAND_IN
    return parse(case_id, currency, posted)


def _failed(exc: ValidationError) -> ValidationFailed:
    issues = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        name = location[0] if location else "form"
        message = str(error.get("msg", "not valid")).removeprefix("Value error, ")
        if name == "amount" and error.get("type") == "missing":
            message = "enter an amount"
        issues.append(FieldIssue(name, message))
    first = issues[0] if issues else FieldIssue("form", "the form is not valid")
    return ValidationFailed(first.message, issues or [first])
