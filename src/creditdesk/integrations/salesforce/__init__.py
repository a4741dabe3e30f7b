"""Salesforce Billing: credit notes through the Salesforce REST API."""
