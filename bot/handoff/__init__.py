"""Handoff tickets: conversations handed to people in the agent queue."""
