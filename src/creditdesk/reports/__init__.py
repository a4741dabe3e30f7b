"""Reports over credits, cases, approvals and reconciliation, with dated
exchange rates for converted totals."""
