"""Cross-cutting governance: environments, secrets and redaction, audit log, overrides, backups, degradation."""
