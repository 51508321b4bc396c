"""Results: the figures managers judge a campaign by, read from what the database recorded."""
