"""Bot API requests over aiohttp, in place of python-telegram-bot's default httpx transport.

Why: on every request httpx's connection pool walks all of its connections and asks the
kernel whether each idle one is readable. Under load, with a connection per request in
flight, that walk cost the bot more CPU than the turn itself. aiohttp (already the web
server) keeps idle connections per host and takes one in constant time.

Bodies are sent form-encoded, as python-telegram-bot's own transport sends them; uploads go
as multipart. Timeouts keep python-telegram-bot's meaning: a connection must be free within
``pool_timeout``, connected within ``connect_timeout``, and the answer must not stall for
longer than ``read_timeout``; the whole request is bounded by their sum with
``write_timeout``. A timeout raises ``TimedOut``, any other failure ``NetworkError``, so the
rest of the bot sees what it would see with httpx.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# python-telegram-bot's default: how long an answer may stall, in seconds.
READ_TIMEOUT = 5.0


class AiohttpRequest(BaseRequest):
    """One pool of keep-alive connections to the Bot API, for python-telegram-bot's Bot."""

    def __init__(
        self,
        connections: int = 256,
        *,
        read_timeout: float | None = READ_TIMEOUT,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self.connections = connections
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default time an answer may stall, in seconds."""
        return self._read

    async def initialize(self) -> None:
        """Open the connection pool (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers={"User-Agent": self.USER_AGENT},
                # python-telegram-bot reads the status itself.
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        """Close every connection."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; the status and the body of the answer."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else {}
        read = _given(read_timeout, self._read)
        write = _given(write_timeout, self._media_write if files else self._write)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        timeout = aiohttp.ClientTimeout(
            total=_sum(pool, connect, write, read),
            connect=_sum(pool, connect),
            sock_connect=connect,
            sock_read=read,
        )
        body, headers = _body(request_data, files)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            # aiohttp's own timeouts are TimeoutErrors too.
            raise TimedOut(f"aiohttp: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _sum(*parts: float | None) -> float | None:
    """A bound made of several, or none if any of them is unbounded."""
    return None if any(p is None for p in parts) else sum(parts)


def _body(
    request_data: RequestData | None, files: dict
) -> tuple[bytes | aiohttp.FormData | None, dict[str, str] | None]:
    if request_data is None:
        return None, None
    if not files:
        return request_data.url_encoded_parameters().encode(), _FORM
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form, None
