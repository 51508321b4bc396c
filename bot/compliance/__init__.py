"""Compliance: the record of every contact, the audit trail and opting out."""
