"""The versioned credit policy: limits, eligibility rules and the approval matrix."""
