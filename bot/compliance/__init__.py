"""Compliance: the record of every contact, the audit trail, and (later) windows, caps, holds."""
