"""The reminder engine: collection policy, planner, outbox and dispatcher."""
