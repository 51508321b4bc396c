"""Debtor-facing messages: a catalog of keys and a sandboxed renderer with Babel filters."""
