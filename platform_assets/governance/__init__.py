"""Governance: policies (roles, grants, column masks, row filters), the governed read path, the audit
log and erasure. See docs/governance.md."""
