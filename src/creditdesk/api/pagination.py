"""Keyset pagination: opaque cursors over a descending id, stable under inserts."""

import base64
import binascii
from typing import Generic, TypeVar

from pydantic import BaseModel

from creditdesk.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id to continue below, or None for the first page."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        kind, _, value = text.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.on("cursor", "the cursor is not valid") from None


def next_cursor(ids: list[int], limit: int) -> str | None:
    """A cursor after the last row when the page came back full."""
    return encode_cursor(ids[-1]) if len(ids) == limit and ids else None


def encode_keyset(sort: str, key: str | int, last_id: int) -> str:
    """A cursor after a row of a list sorted by ``sort``: its key and id.

    The sort is part of the cursor, so a cursor is refused under another sort.
    """
    text = f"k:{sort}:{key}:{last_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_keyset(cursor: str | None, sort: str) -> tuple[str, int] | None:
    """The (key, id) to continue after under ``sort``, or None at the start."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        kind, rest = text.split(":", 1)
        if kind != "k" or not rest.startswith(sort + ":"):
            raise ValueError(text)
        key, _, last_id = rest.removeprefix(sort + ":").rpartition(":")
        if not key or not last_id.isdigit():
            raise ValueError(text)
        return key, int(last_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.on(
            "cursor", "the cursor is not valid for this sort"
        ) from None
