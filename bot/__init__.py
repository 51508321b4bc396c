"""nudgebot: polite, lawful collection of overdue debts through chat."""
