"""SOQL string literals, written by the adapter and read back by the fake."""

import re
from collections.abc import Mapping

# The escapes SOQL defines inside a quoted string.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_UNESCAPES = {escaped[1]: plain for plain, escaped in _ESCAPES.items()}

# A quoted literal as it appears in a query: anything but a bare quote.
LITERAL = r"'((?:[^'\\]|\\.)*)'"


def literal(value: str) -> str:
    """``value`` as a quoted SOQL literal that cannot end the string early."""
    return "'" + "".join(_ESCAPES.get(char, char) for char in value) + "'"


def unquote(body: str) -> str:
    """The value of a literal's body (the text between its quotes)."""
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m[1], m[1]), body)


def select(
    fields: str, sobject: str, equal: Mapping[str, str], *, tail: str = ""
) -> str:
    """``SELECT fields FROM sobject WHERE`` each field equals its value.

    Names come from our code and settings (checked as API names); every value
    goes through ``literal``, which is what keeps the query ours.
    """
    where = " AND ".join(f"{name} = {literal(value)}" for name, value in equal.items())
    query = f"SELECT {fields} FROM {sobject} WHERE {where}"  # noqa: S608
    return f"{query} {tail}" if tail else query
