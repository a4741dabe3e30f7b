"""The demo organisation: teams, users, accounts and cases to try creditdesk with."""
