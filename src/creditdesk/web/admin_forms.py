"""Reading the administration forms: text fields to the API's own schemas,
and their refusals to messages next to the fields.

The pages validate with the same Pydantic models as the admin API
(``UserCreate``, ``UserPatch``, ``SharingRuleIn``), then call the same
services, so a page refuses exactly what the API refuses.
"""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from creditdesk.errors import FieldIssue, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

_USERNAME = "a username is 3 to 64 characters of a-z, 0-9, '.', '_' and '-'"
# Pydantic's own wording quotes a regular expression; people get the rule.
_PATTERN_MESSAGES = {"username": _USERNAME, "manager": _USERNAME}


def values_of(form: dict[str, str], names: frozenset[str]) -> dict[str, str]:
    """The form's fields ``names``, trimmed; a missing field is empty."""
    return {name: form.get(name, "").strip() for name in names}


def optional(value: str) -> str | None:
    """An empty text field means "none"."""
    return value or None


def parse(model: type[Model], data: dict[str, object]) -> Model:
    """``model`` validated from ``data``, or ValidationFailed naming each
    field at fault as the API's 422 would."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(error) for error in exc.errors(include_url=False)]
        raise ValidationFailed(issues[0].message, issues) from None


def _issue(error: dict) -> FieldIssue:
    name = str(error["loc"][0]) if error.get("loc") else "form"
    message = error["msg"]
    if error["type"] == "string_pattern_mismatch":
        message = _PATTERN_MESSAGES.get(name, message)
    elif error["type"] == "enum":
        message = f"choose one of the listed {name.replace('_', ' ')}s"
    return FieldIssue(name, message)
