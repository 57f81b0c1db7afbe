"""Directory connectors: where the accounts live that people log in with (LDAP, SCIM), the
selector that picks each organization's, and the outbox sender for their operations."""
