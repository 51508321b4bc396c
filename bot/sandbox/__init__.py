"""The local Bot API server that stands in for Telegram in tests and `nudgebot sandbox`."""

from bot.sandbox.botapi import BotApiServer
from bot.sandbox.limits import RateLimits
from bot.sandbox.state import ApiError, SandboxError, SandboxUser

__all__ = ["ApiError", "BotApiServer", "RateLimits", "SandboxError", "SandboxUser"]
