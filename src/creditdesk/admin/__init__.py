"""Administration: users, teams, roles, reporting lines and field permissions."""
