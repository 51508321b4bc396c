"""Running the bot as several processes: who is alive, and the shared pace of sending.

Times here are seconds since the epoch by the machine's real clock (``time.time()``), never
the injected business clock: a lease says whether a process is alive now, and a sending slot
is a moment Telegram will see; neither is a fact about a debtor.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base


class Worker(Base):
    """One running process that claims work; its claims hold while ``alive_until`` is ahead."""

    __tablename__ = "worker"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started: Mapped[float] = mapped_column(Float())
    alive_until: Mapped[float] = mapped_column(Float())


class SendPace(Base):
    """The next free sending slot of a channel's bot as a whole, and a pause a 429 asked for.
    UNLOGGED on PostgreSQL: after a crash it starts empty, which is right."""

    __tablename__ = "send_pace"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float())
    paused_until: Mapped[float] = mapped_column(Float())


class ChatPace(Base):
    """The next free sending slot of one chat (rows of idle chats are removed). UNLOGGED."""

    __tablename__ = "chat_pace"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float())
