"""Console staff: accounts (agents and admins), argon2id passwords, sign-in and sessions."""
