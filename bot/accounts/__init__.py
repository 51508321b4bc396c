"""Debtors, accounts and payments: import from files and the services over them."""
