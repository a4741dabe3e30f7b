"""Posting approved credits to billing systems through one adapter interface."""
