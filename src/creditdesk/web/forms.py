"""Form errors for templates: a domain error's field issues by field name.

A service refuses bad input with ``ValidationFailed`` naming the field; a
page re-renders its form with ``errors=field_errors(exc)`` so each message
sits next to its field (see templates/macros/forms.html).
"""

from creditdesk.errors import DomainError


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
