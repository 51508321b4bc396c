"""The aiohttp web server: health, the Telegram webhook, and (later) the console and JSON API."""
