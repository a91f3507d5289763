"""Keep secrets out of logs, the UI, reports and exceptions.

Camera and database URLs may carry ``user:password@``; the Telegram token appears in Bot API URLs
(``/bot<token>/``). :func:`mask_url` and :func:`redact` replace them; :class:`RedactingFilter` applies
:func:`redact` to every log record.

Masking parses the URL's shape instead of trusting a URL library: users type passwords unencoded, so a
password may hold ``#``, ``?``, ``/``, ``:`` or ``@``, each of which makes ``urllib.parse`` end the
authority early (and its ``.port`` raises on ``:99999``). The rule here: after ``scheme://`` the user
information runs up to the LAST ``@`` before the next whitespace. Everything after the first ``:`` of
it is the password and is replaced, however it is spelled (unicode, percent-encoded). A URL whose path
holds an ``@`` is therefore masked more than needed, never less. (A password with a space in it is only
masked up to the space when it appears in free text; the exact configured passwords are also registered with
:func:`register_secret` by ``core.config``, which masks them wherever they appear.)
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

# scheme://userinfo@ where userinfo is greedy up to the last "@" of a whitespace-free run
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>\S*)@")
_BOT_TOKEN = re.compile(r"bot\d+:[A-Za-z0-9_\-]+")
_BARE_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_\-]{20,}")
# libpq key=value connection strings: password=... (quoted or not)
_DSN_PASSWORD = re.compile(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Also redact this exact value (the configured token, chat id, a camera password) wherever it shows,
    in its percent-encoded and decoded spellings too."""
    if not value or len(value) < 4:
        return
    for form in (value, quote(value, safe=""), unquote(value)):
        if len(form) >= 4:
            _extra_secrets.add(form)


def url_password(url: str | int) -> str | None:
    """The password part of ``scheme://user:password@host...`` (as written), or None."""
    if not isinstance(url, str):
        return None
    m = _USERINFO.search(url)
    if m is None or ":" not in m["userinfo"]:
        return None
    return m["userinfo"].split(":", 1)[1] or None


def _mask_userinfo(m: re.Match[str]) -> str:
    user = m["userinfo"].split(":", 1)[0] if ":" in m["userinfo"] else ""
    # a userinfo without ":" may be a bare token (``https://TOKEN@host``): hide it whole
    return f"{m['scheme']}{user}:***@" if user else f"{m['scheme']}***@"


def mask_url(url: str | int) -> str:
    """``rtsp://admin:<password>@<camera-ip>/stream`` -> ``rtsp://admin:***@<camera-ip>/stream``.

    Never raises: a webcam index or a file path comes back as it is."""
    if not isinstance(url, str):
        return str(url)
    return redact(url)


def redact(text: str) -> str:
    if not text:
        return text
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _BOT_TOKEN.sub("bot***", text)
    text = _BARE_TOKEN.sub("***", text)
    text = _DSN_PASSWORD.sub(lambda m: f"{m[1]}***", text)
    # longest first, so a secret that contains another is replaced whole
    for secret in sorted(_extra_secrets, key=len, reverse=True):
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
            record.exc_text = formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True
