"""Form errors for templates: a domain error's field issues by field name.

A service refuses bad input with ``ValidationFailed`` naming the field; a
page re-renders its form with ``errors=field_errors(exc)`` so each message
sits next to its field (see templates/macros/forms.html).
"""

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from creditdesk.errors import DomainError, FieldIssue, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

# A BIGINT holds any 18-digit number; longer text names no record.
_ID_DIGITS_MAX = 18


def form_id(text: str | None) -> int | None:
    """The record id a form field holds, or None when its text is not one.

    Only ASCII digits count: ``"²".isdigit()`` is true, yet ``int("²")``
    raises, and a page must answer bad input with a message, not a 500.
    """
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= _ID_DIGITS_MAX:
        return int(text)
    return None


def field_errors(
    error: DomainError, *, known: frozenset[str] | None = None
) -> dict[str, str]:
    """``{field: message}`` for ``error``'s issues (the first per field).

    An issue naming no field the form has (``known``) is filed under
    ``"form"``, shown above the form, so no message is lost.
    """
    errors: dict[str, str] = {}
    for issue in error.issues:
        name = issue.field.split(".")[0]
        if known is not None and name not in known:
            name = "form"
        errors.setdefault(name, issue.message)
    if not errors:
        errors["form"] = error.detail
    return errors


def parse(
    model: type[Model],
    data: dict[str, object],
    *,
    patterns: Mapping[str, str] | None = None,
) -> Model:
    """``model`` (the API's own schema) validated from ``data``, or
    ValidationFailed naming each field at fault as the API's 422 would, so a
    page refuses exactly what the API refuses. ``patterns`` words a field's
    pattern rule for people instead of quoting the regular expression."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(error, patterns or {}) for error in exc.errors()]
        raise ValidationFailed(issues[0].message, issues) from None


def _issue(error: Mapping, patterns: Mapping[str, str]) -> FieldIssue:
    name = str(error["loc"][0]) if error.get("loc") else "form"
    # A validator's own words come prefixed "Value error, ": people get the
    # words alone.
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        message = patterns.get(name, message)
    elif error["type"] == "enum":
        message = f"choose one of the listed {name.replace('_', ' ')}s"
    return FieldIssue(name, message)
