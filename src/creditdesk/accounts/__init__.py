"""Customer accounts and the contracts (entitlements) that make credits eligible."""
