"""How the fake Zuora tenant answers Object Query API reads: filters such as
``memoDate.GE:2026-01-01``, sorts such as ``memoDate.ASC``, and pages behind
an opaque ``nextPage`` cursor. Field names match case-insensitively, as the
API documents."""

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_FILTER = re.compile(r"^(?P<field>\w+)\.(?P<op>EQ|GE|LE):(?P<value>.*)$", re.IGNORECASE)
_SORT = re.compile(r"^(?P<field>\w+)\.(?P<order>ASC|DESC)$", re.IGNORECASE)
_MAX_PAGE = 99


@dataclass
class Query:
    """An object query's parameters, as they came."""

    filters: list[str]
    sort: list[str] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)
    page_size: str = "10"
    cursor: str | None = None


class Refusal(Exception):
    """One entry of Zuora's ``reasons``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def filtered(rows: list[dict[str, Any]], filters: list[str]) -> list[dict[str, Any]]:
    for text in filters:
        rows = [row for row in rows if _passes(row, text)]
    return rows


def sorted_rows(rows: list[dict[str, Any]], sort: list[str]) -> list[dict[str, Any]]:
    # The first sort given is the primary one, so apply them last to first.
    for text in reversed(sort):
        match = _SORT.match(text)
        if match is None:
            raise Refusal(50000020, f"Unsupported sort: {text}")
        rows.sort(
            key=_sort_key(match["field"].lower()),
            reverse=match["order"].upper() == "DESC",
        )
    return rows


def page(rows: list[dict[str, Any]], size_text: str, cursor: str | None) -> dict:
    size = _page_size(size_text)
    start = _offset(cursor)
    more = start + size < len(rows)
    # The object query API answers with data and a cursor, no success flag.
    return {
        "data": rows[start : start + size],
        "nextPage": _cursor(start + size) if more else None,
    }


def _passes(row: dict[str, Any], text: str) -> bool:
    match = _FILTER.match(text)
    if match is None:
        raise Refusal(50000020, f"Unsupported filter: {text}")
    value = _field(row, match["field"].lower())
    wanted = match["value"]
    operator = match["op"].upper()
    if operator == "EQ":
        return value == wanted
    # Only dates are compared here, and ISO dates order as text.
    if value is None:
        return False
    return value >= wanted if operator == "GE" else value <= wanted


def _sort_key(lowered: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: _field(row, lowered) or ""


def _page_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= _MAX_PAGE:
        raise Refusal(50000020, f"pageSize must be from 1 to {_MAX_PAGE}.")
    return int(text)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor))["offset"])
    except (ValueError, KeyError, TypeError):
        raise Refusal(50000020, "The cursor is not valid.") from None


def _field(row: dict[str, Any], lowered: str) -> str | None:
    # Object query parameters match field names case-insensitively.
    for name, value in row.items():
        if name.lower() == lowered:
            return None if value is None else str(value)
    return None
