"""Billing credits: raising, deciding and following a credit to the ledger."""
