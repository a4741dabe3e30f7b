"""Reading the administration forms: text fields to the API's own schemas,
and their refusals to messages next to the fields.

The pages validate with the same Pydantic models as the admin API
(``UserCreate``, ``UserPatch``, ``SharingRuleIn``), then call the same
services, so a page refuses exactly what the API refuses.
"""

from typing import TypeVar

from pydantic import BaseModel

from creditdesk.web import forms

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
    """``model`` validated from ``data`` (see ``web.forms.parse``), with the
    username rule worded for people."""
    return forms.parse(model, data, patterns=_PATTERN_MESSAGES)
