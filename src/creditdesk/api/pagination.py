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
