"""Who may do what: API tokens, the current user and role permissions."""
