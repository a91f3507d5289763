"""Alert texts from per-language templates (``resources/alerts/<lang>.yaml``: ``en``, ``id``).

Every value inserted into a template is HTML-escaped (the Bot API is called with ``parse_mode=HTML``),
so a name like ``<Rina & co>`` arrives as typed and cannot break the message.
"""

from __future__ import annotations

import html
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from core.paths import RESOURCES_DIR

ALERTS_DIR = RESOURCES_DIR / "alerts"
LANGUAGES = ("en", "id")


@lru_cache(maxsize=8)
def _load(lang: str) -> dict[str, str]:
    path = ALERTS_DIR / f"{lang}.yaml"
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


def fmt_duration(seconds: float) -> str:
    """``3725`` -> ``1h 02m``, ``125`` -> ``2m 05s``, ``42`` -> ``42s``."""
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {sec:02d}s"
    return f"{sec}s"


def fmt_time(ts: float | None, tz: str | ZoneInfo, with_date: bool = False) -> str:
    if ts is None:
        return "-"
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


class AlertTemplates:
    def __init__(self, language: str = "en"):
        self.language = language if language in LANGUAGES else "en"
        self._t = _load(self.language)
        self._fallback = _load("en")

    def raw(self, key: str) -> str:
        return self._t.get(key) or self._fallback[key]

    def render(self, key: str, **values: Any) -> str:
        """The template ``key`` with every value HTML-escaped (values already marked safe: ``_html`` suffix)."""
        safe = {}
        for k, v in values.items():
            if k.endswith("_html"):
                safe[k[:-5]] = str(v)
            else:
                safe[k] = html.escape(str(v), quote=False)
        return self.raw(key).format(**safe)
