"""A generic billing receiver: signed JSON posted to a configured URL."""
