"""Getting debtors into the chat safely: deep-link tokens and identity verification."""
