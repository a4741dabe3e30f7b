"""Notifications about work items, sent through the outbox (e-mail for now)."""
