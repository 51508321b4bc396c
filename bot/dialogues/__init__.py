"""Guided conversations with verified debtors: one module per flow, state in the database."""
