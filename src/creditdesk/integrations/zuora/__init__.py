"""Posting credits to Zuora Billing as credit memos (REST API v1)."""
