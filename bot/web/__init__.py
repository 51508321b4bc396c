"""The aiohttp web server: health, the Telegram webhook, the JSON API and the console."""
