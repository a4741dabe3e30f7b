"""Idempotency-Key handling: a retried request replays the first response."""
