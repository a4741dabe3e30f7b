"""Teams, users and the reporting line (who manages whom)."""
