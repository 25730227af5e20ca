"""Governance (below ingestion): audit log, kill switch and freezes, backups, ledger encryption, degradation, alert
channels. Environments and flags are in config.py, secrets and redaction in secrets.py (ground floor)."""
