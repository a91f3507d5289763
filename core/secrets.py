"""Keep secrets out of logs, the UI, reports and exceptions.

RTSP/HTTP camera URLs may carry ``user:password@``; the Telegram token appears in Bot API URLs
(``/bot<token>/``). :func:`mask_url` and :func:`redact` replace them; :class:`RedactingFilter` applies
:func:`redact` to every log record.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*)(?::(?P<pw>[^@\s/]*))?@")
_BOT_TOKEN = re.compile(r"bot\d{5,}:[A-Za-z0-9_\-]{20,}")
_BARE_TOKEN = re.compile(r"\b\d{6,}:[A-Za-z0-9_\-]{30,}\b")

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Also redact this exact value (e.g. the configured Telegram token or chat id) wherever it shows."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def mask_url(url: str | int) -> str:
    """``rtsp://admin:<password>@<camera-ip>/stream`` -> ``rtsp://admin:***@<camera-ip>/stream``."""
    if not isinstance(url, str):
        return str(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if user else f"***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact(text: str) -> str:
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if m["user"] else f"{m['scheme']}***@", text)
    text = _BOT_TOKEN.sub("bot***", text)
    text = _BARE_TOKEN.sub("***", text)
    for secret in _extra_secrets:
        text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not kill logging
            return True
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so no secret leaks through exception text.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True
