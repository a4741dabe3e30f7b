"""Approval requests and their sequential steps."""
