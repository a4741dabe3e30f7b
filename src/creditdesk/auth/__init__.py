"""Who you are: API tokens and their scopes, passwords and web sessions."""
