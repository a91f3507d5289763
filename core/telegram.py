"""Telegram Bot API client over plain HTTP (requests): sendMessage and sendPhoto.

``telegram.api_base`` is configurable so tests point it at a local server. The bot token appears in
every request URL (``/bot<token>/``), so it is registered with :mod:`core.secrets` and every error text
is redacted before it leaves this module. Texts are sent with ``parse_mode=HTML``; callers escape
user-provided values with :func:`html.escape` (the alert templates do).

Every request has a total deadline (``timeout_s``): a server that answers one byte every few seconds never
trips a per-read timeout, so a timer cuts the request's sockets when the deadline passes and the call
fails as retryable (and says so in the log) instead of blocking delivery for good.

Errors are sorted for the outbox:

* :class:`TelegramRetryable` - network error, timeout, 5xx, 429 (``retry_after`` honoured)
* :class:`TelegramRejected` - other 4xx (bad token, bad chat id, bad request): retrying will not help;
  the message says what to fix.
"""

from __future__ import annotations

import html
import logging
import re
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from core.secrets import redact, register_secret

if TYPE_CHECKING:
    from core.config import AppConfig

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096


class TelegramError(Exception):
    pass


class TelegramRetryable(TelegramError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TelegramRejected(TelegramError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _secret(v: Any) -> str:
    if v is None:
        return ""
    get = getattr(v, "get_secret_value", None)
    return str(get() if get else v)


def _explain(status: int, description: str) -> str:
    d = description or "no description"
    if status == 401:
        return f"Telegram rejected the bot token (401 Unauthorized: {d}). Check SPG_TELEGRAM_TOKEN in .env."
    if status in (400, 403) and "chat" in d.lower():
        return (f"Telegram cannot deliver to the chat ({status}: {d}). Check SPG_TELEGRAM_CHAT_ID in .env and "
                f"that the bot was added to that chat.")
    if status == 403:
        return f"Telegram refused the message ({status}: {d}). Is the bot blocked or removed from the chat?"
    if status == 404:
        return f"Telegram answered 404 ({d}). Check the bot token and telegram.api_base."
    return f"Telegram rejected the message ({status}: {d})."


CONNECT_TIMEOUT_S = 5.0


def _pool_class(base: type[HTTPConnectionPool], on_connect: Callable[[socket.socket], None]) -> type[HTTPConnectionPool]:
    class Connection(base.ConnectionCls):  # type: ignore[name-defined, misc]
        def connect(self) -> None:
            super().connect()
            on_connect(self.sock)

    return type(base.__name__, (base,), {"ConnectionCls": Connection})


class _CuttableAdapter(HTTPAdapter):
    """Remembers the sockets it opens, so a request past its deadline can be cut from a timer thread
    (``shutdown`` wakes the read that is blocked on a dripping server)."""

    def __init__(self) -> None:
        self._socks: list[socket.socket] = []
        self._socks_lock = threading.Lock()
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _pool_class(HTTPConnectionPool, self._opened),
                                                   "https": _pool_class(HTTPSConnectionPool, self._opened)}

    def _opened(self, sock: socket.socket) -> None:
        with self._socks_lock:
            self._socks.append(sock)

    def cut(self) -> None:
        with self._socks_lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class TelegramClient:
    def __init__(self, api_base: str, token: Any, chat_id: Any, timeout_s: float = 10.0):
        self.api_base = api_base.rstrip("/")
        self._token = _secret(token)
        self.chat_id = _secret(chat_id)
        if not self._token or not self.chat_id:
            raise TelegramError("Telegram is not configured: set SPG_TELEGRAM_TOKEN and SPG_TELEGRAM_CHAT_ID in .env.")
        register_secret(self._token)
        register_secret(self.chat_id)
        self.timeout_s = timeout_s
        """The total deadline of one request: connect, upload and the whole answer."""

    @classmethod
    def from_config(cls, tg: Any) -> TelegramClient:
        return cls(tg.api_base, tg.token, tg.chat_id, tg.timeout_s)

    def _call(self, method: str, data: dict[str, Any], files: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.api_base}/bot{self._token}/{method}"
        # A session per request: its sockets are the ones the deadline may cut (alerts are rare; no reuse lost).
        adapter = _CuttableAdapter()
        stalled = threading.Event()

        def cut() -> None:
            stalled.set()
            adapter.cut()

        timer = threading.Timer(self.timeout_s, cut)
        timer.daemon = True
        with requests.Session() as session:
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            timer.start()
            try:
                resp = session.post(url, data=data, files=files,
                                    timeout=(min(CONNECT_TIMEOUT_S, self.timeout_s), self.timeout_s))
            except requests.RequestException as exc:
                if stalled.is_set():
                    log.warning("Telegram %s stalled: no complete answer within %.0f s; the request was cut and "
                                "will be retried", method, self.timeout_s)
                    raise TelegramRetryable(f"Telegram did not answer within {self.timeout_s:.0f} s "
                                            f"(the connection stalled)") from None
                raise TelegramRetryable(redact(f"Telegram not reachable ({exc.__class__.__name__}: {exc})")) from None
            finally:
                timer.cancel()
        try:
            body = resp.json()
        except ValueError:
            body = {}
        desc = str(body.get("description", "")) if isinstance(body, dict) else ""
        if resp.status_code == 200 and isinstance(body, dict) and body.get("ok"):
            return body.get("result") or {}
        if resp.status_code == 429:
            params = body.get("parameters") if isinstance(body, dict) else None
            ra = (params or {}).get("retry_after") or resp.headers.get("Retry-After")
            try:
                ra_s = float(ra) if ra is not None else None
            except ValueError:
                ra_s = None
            raise TelegramRetryable(redact(f"Telegram rate limit (429), retry after {ra_s} s"), ra_s)
        if resp.status_code >= 500 or resp.status_code == 200:
            raise TelegramRetryable(redact(f"Telegram server error ({resp.status_code}: {desc or 'no description'})"))
        raise TelegramRejected(redact(_explain(resp.status_code, desc)), resp.status_code)

    def send_message(self, text: str) -> dict[str, Any]:
        return self._call("sendMessage", {"chat_id": self.chat_id, "text": text[:TEXT_LIMIT], "parse_mode": "HTML",
                                          "disable_web_page_preview": "true"})

    def send_photo(self, jpeg: bytes, caption: str) -> dict[str, Any]:
        data = {"chat_id": self.chat_id, "caption": caption, "parse_mode": "HTML"}
        if len(caption) > CAPTION_LIMIT:
            # Cutting HTML could break a tag: send the caption as plain text, shortened.
            plain = html.unescape(re.sub(r"<[^>]+>", "", caption))
            data = {"chat_id": self.chat_id, "caption": plain[: CAPTION_LIMIT - 1] + "…"}
        return self._call("sendPhoto", data, files={"photo": ("snapshot.jpg", jpeg, "image/jpeg")})

    def get_me(self) -> dict[str, Any]:
        return self._call("getMe", {})


def send_test_message(cfg: AppConfig) -> tuple[bool, str]:
    """For the settings dialog: send one test message with the given config. Returns (ok, sentence)."""
    from core.alert_templates import AlertTemplates

    tg = cfg.telegram
    try:
        client = TelegramClient.from_config(tg)
        outlet = cfg.outlet
        text = AlertTemplates(outlet.language).render("test", outlet=outlet.name, tz=outlet.timezone)
        client.send_message(text)
    except TelegramError as exc:
        return False, redact(str(exc))
    except Exception as exc:  # noqa: BLE001 - the dialog shows a sentence, never a traceback
        return False, redact(f"Could not send the test message: {exc}")
    return True, "Test message sent. Check the Telegram chat."

