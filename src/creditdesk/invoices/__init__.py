"""Invoices billed to customer accounts: the revenue the leakage report measures
credits against."""
