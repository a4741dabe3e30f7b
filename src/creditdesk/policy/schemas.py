"""The policy document: YAML validated by these models.

Amounts are written per currency as quoted decimal strings (``"20.00"``) and
held as integer minor units once parsed, so the engine never sees a float.
Every error names the path at fault, e.g. ``approval_matrix.bands.1.up_to.GBP``.
"""

import hashlib
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from creditdesk.errors import FieldIssue, ValidationFailed
from creditdesk.money import MoneyError, currency_exponent, format_amount, parse_amount
from creditdesk.policy.chains import ApprovalTimings, StepSpec
from creditdesk.policy.strict import Strict
from creditdesk.users.models import Role

DEFAULT_POLICY_FILE = "default_policy.yaml"

# Credit types and reasons are stored in 32-character columns.
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def _problem(message: str, *at: object) -> PydanticCustomError:
    """An error whose ``at`` extends the location pydantic knows about."""
    return PydanticCustomError(
        "policy", "{detail}", {"detail": message, "at": ".".join(map(str, at))}
    )


def _parse_amounts(value: object) -> object:
    if not isinstance(value, dict):
        return value  # the dict validation that follows reports the type

    parsed: dict[object, int] = {}
    for code, text in value.items():
        try:
            currency_exponent(str(code))
        except MoneyError as exc:
            raise _problem(str(exc), code) from None
        if not isinstance(text, str):
            raise _problem(
                f'write amounts as quoted decimal strings such as "20.00", '
                f"not {text!r}",
                code,
            )
        try:
            parsed[code] = parse_amount(text, code)
        except MoneyError as exc:
            raise _problem(str(exc), code) from None
    return parsed


# Per-currency amounts in minor units: {"GBP": 2000}.
Amounts = Annotated[dict[str, int], BeforeValidator(_parse_amounts)]


def _money(minor: int, currency: str) -> str:
    return f"{currency} {format_amount(minor, currency)}"


class Labelled(Strict):
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class AutoApprovalLimits(Strict):
    default: Amounts
    per_role: dict[Role, Amounts] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _roles_use_known_currencies(self) -> "AutoApprovalLimits":
        if not self.default:
            raise _problem("name at least one currency", "default")
        for role, amounts in self.per_role.items():
            for code in amounts:
                if code not in self.default:
                    raise _problem(
                        f"{code} has no default limit; add it to default first",
                        "per_role",
                        role.value,
                        code,
                    )
        return self


class Band(Strict):
    up_to: Amounts
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _steps_once_each(self) -> "Band":
        labels = [step.label for step in self.steps]
        if len(set(labels)) != len(labels):
            raise _problem("an approver appears in more than one step", "steps")
        return self


class ApprovalMatrix(Strict):
    bands: list[Band] = Field(min_length=1)
    refuse_above: Amounts


class Eligibility(Strict):
    rolling_cap_days: StrictInt = Field(ge=1, le=366)
    near_duplicate_days: StrictInt = Field(ge=0, le=366)


class Policy(Strict):
    """A parsed policy document; amounts are in minor units."""

    reason_codes: dict[Code, Labelled] = Field(min_length=1)
    credit_types: dict[Code, Labelled] = Field(min_length=1)
    auto_approval_limit: AutoApprovalLimits
    approval_matrix: ApprovalMatrix
    eligibility: Eligibility
    approvals: ApprovalTimings = Field(default_factory=ApprovalTimings)

    @model_validator(mode="after")
    def _matrix_is_complete(self) -> "Policy":
        currencies = set(self.auto_approval_limit.default)
        matrix = self.approval_matrix
        for index, band in enumerate(matrix.bands):
            _check_currencies(band.up_to, currencies, "bands", index, "up_to")
        _check_currencies(matrix.refuse_above, currencies, "refuse_above")

        for currency in sorted(currencies):
            _check_ascending(matrix, currency)
        return self

    @property
    def currencies(self) -> frozenset[str]:
        """The currencies credits may be raised in."""
        return frozenset(self.auto_approval_limit.default)

    def auto_limit(self, role: str, currency: str) -> int:
        """The role's auto-approval limit; the default where it has none."""
        for listed, amounts in self.auto_approval_limit.per_role.items():
            if listed == role and currency in amounts:
                return amounts[currency]
        return self.auto_approval_limit.default[currency]

    def band_for(self, amount_minor: int, currency: str) -> Band | None:
        """The first band covering the amount; None above the last band."""
        for band in self.approval_matrix.bands:
            if amount_minor <= band.up_to[currency]:
                return band
        return None

    def refuse_above(self, currency: str) -> int:
        return self.approval_matrix.refuse_above[currency]


def _check_currencies(amounts: dict[str, int], expected: set[str], *at: object) -> None:
    missing = sorted(expected - set(amounts))
    if missing:
        raise _problem(
            f"missing {', '.join(missing)}: every currency with an "
            "auto-approval limit needs an amount here",
            "approval_matrix",
            *at,
        )
    extra = sorted(set(amounts) - expected)
    if extra:
        raise _problem(
            f"{extra[0]} has no auto-approval limit; add it there first",
            "approval_matrix",
            *at,
            extra[0],
        )


def _check_ascending(matrix: ApprovalMatrix, currency: str) -> None:
    previous = 0
    for index, band in enumerate(matrix.bands):
        up_to = band.up_to[currency]
        if up_to <= previous:
            message = (
                f"bands must ascend: {_money(up_to, currency)} is not above "
                f"{_money(previous, currency)}"
                if index
                else f"{_money(up_to, currency)} must be above zero"
            )
            raise _problem(
                message,
                "approval_matrix",
                "bands",
                index,
                "up_to",
                currency,
            )
        previous = up_to

    if matrix.refuse_above[currency] > previous:
        raise _problem(
            f"{_money(matrix.refuse_above[currency], currency)} is above the last "
            f"band ({_money(previous, currency)}), so amounts in between would "
            "have no approval steps",
            "approval_matrix",
            "refuse_above",
            currency,
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice instead of keeping the last."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[object] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_policy(text: str) -> Policy:
    """Validate a YAML policy document; ValidationFailed names the path at fault."""
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise ValidationFailed.on("document", _yaml_message(exc)) from None

    if not isinstance(document, dict):
        raise ValidationFailed.on(
            "document", "the policy must be a YAML mapping of sections"
        )

    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise _validation_failed(exc) from None


def default_policy_text() -> str:
    """The policy document shipped with the package."""
    return resources.files(__package__).joinpath(DEFAULT_POLICY_FILE).read_text()


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"not valid YAML: {problem}"
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    return f"not valid YAML at {where}: {problem}"


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    # Only codes (credit types and reasons) carry a pattern.
    "string_pattern_mismatch": (
        "use lower-case letters, digits and underscores, starting with a letter "
        "(at most 32)"
    ),
}


def _validation_failed(exc: ValidationError) -> ValidationFailed:
    issues = [_issue(error) for error in exc.errors(include_url=False)]
    first = issues[0]
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return ValidationFailed(
        f"The policy is not valid: {first.field}: {first.message}{more}", issues
    )


def _issue(error: Any) -> FieldIssue:
    path = [str(part) for part in error["loc"]]
    message = _MESSAGES.get(error["type"], error["msg"])
    if path and path[-1] == "[key]":
        # pydantic marks a bad mapping key with a trailing "[key]".
        path.pop()
        message = f"key not allowed: {message}"
    extra = (error.get("ctx") or {}).get("at")
    if extra:
        path.append(extra)
    return FieldIssue(".".join(path) or "document", message)
