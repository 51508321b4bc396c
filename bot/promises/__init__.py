"""Promises to pay and repayment plans, and what happens to them when money arrives."""
