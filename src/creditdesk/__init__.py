"""creditdesk: governed billing credits for contact centres."""

__version__ = "0.1.0"
