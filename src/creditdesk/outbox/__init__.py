"""The transactional outbox: messages written with a change, delivered after."""

from creditdesk.outbox.errors import LeaseLost, PermanentError, TransientError

__all__ = ["LeaseLost", "PermanentError", "TransientError"]
