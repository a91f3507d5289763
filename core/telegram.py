"""Telegram Bot API client over plain HTTP (requests): sendMessage and sendPhoto.

``telegram.api_base`` is configurable so tests point it at a local server. The bot token appears in
every request URL (``/bot<token>/``), so it is registered with :mod:`core.secrets` and every error text
is redacted before it leaves this module. Texts are sent with ``parse_mode=HTML``; callers escape
user-provided values with :func:`html.escape` (the alert templates do).

Errors are sorted for the outbox:

* :class:`TelegramRetryable` - network error, timeout, 5xx, 429 (``retry_after`` honoured)
* :class:`TelegramRejected` - other 4xx (bad token, bad chat id, bad request): retrying will not help;
  the message says what to fix.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import requests

from core.secrets import redact, register_secret

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


class TelegramClient:
    def __init__(self, api_base: str, token: Any, chat_id: Any, timeout_s: float = 10.0,
                 session: requests.Session | None = None):
        self.api_base = api_base.rstrip("/")
        self._token = _secret(token)
        self.chat_id = _secret(chat_id)
        if not self._token or not self.chat_id:
            raise TelegramError("Telegram is not configured: set SPG_TELEGRAM_TOKEN and SPG_TELEGRAM_CHAT_ID in .env.")
        register_secret(self._token)
        register_secret(self.chat_id)
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    @classmethod
    def from_config(cls, tg: Any) -> TelegramClient:
        return cls(tg.api_base, tg.token, tg.chat_id, tg.timeout_s)

    def _call(self, method: str, data: dict[str, Any], files: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.api_base}/bot{self._token}/{method}"
        try:
            resp = self.session.post(url, data=data, files=files, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise TelegramRetryable(redact(f"Telegram not reachable ({exc.__class__.__name__}: {exc})")) from None
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


def send_test_message(cfg: Any) -> tuple[bool, str]:
    """For the settings dialog: send one test message with the given config. Returns (ok, sentence)."""
    from core.alert_templates import AlertTemplates

    tg = getattr(cfg, "telegram", cfg)
    try:
        client = TelegramClient.from_config(tg)
        outlet = getattr(cfg, "outlet", None)
        text = AlertTemplates(getattr(outlet, "language", "en")).render(
            "test", outlet=getattr(outlet, "name", ""), tz=getattr(outlet, "timezone", "UTC"))
        client.send_message(text)
    except TelegramError as exc:
        return False, redact(str(exc))
    except Exception as exc:  # noqa: BLE001 - the dialog shows a sentence, never a traceback
        return False, redact(f"Could not send the test message: {exc}")
    return True, "Test message sent. Check the Telegram chat."

