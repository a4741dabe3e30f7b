"""The transactional outbox: messages written with a change, delivered after."""
