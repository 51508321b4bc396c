"""The Telegram adapter: python-telegram-bot wiring, sending, rate limiting, webhook."""

import os

# Opt in to python-telegram-bot's coming behaviour: durations such as RetryAfter.retry_after
# are timedeltas (v22.2 deprecates plain seconds).
os.environ.setdefault("PTB_TIMEDELTA", "1")
