"""The Telegram adapter: python-telegram-bot wiring, sending, rate limiting, webhook."""
