""":class:`HqReader`: the HQ console's one connection to the central database, and what a failure reads as.

The console calls it from a background thread only (the Qt thread never waits on the network). It opens
the connection on first use, and after any database error it drops the connection and raises
:class:`CentralUnavailable`, whose sentence names the server with the password masked; the next call
connects again, so the console recovers by itself when the database comes back.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, TypeVar

import psycopg

from core.central.hq_api import HqReadApi
from core.secrets import mask_url, redact, register_secret, url_password

log = logging.getLogger(__name__)

T = TypeVar("T")


class CentralUnavailable(Exception):
    """The central database could not be read. ``str()`` is one sentence without any password;
    ``url`` is the masked URL and ``reason`` the redacted cause."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot read the central database {url}: {reason}")


def _connect_queries(url: str) -> HqReadApi:
    from core.central.hq_queries import HqQueries

    return HqQueries(url, connect_timeout=5.0)


class HqReader:
    """One lazily opened :class:`HqReadApi`, used under a lock (a refresh and an export never share it
    at the same moment)."""

    def __init__(self, url: str, connect: Callable[[str], HqReadApi] = _connect_queries) -> None:
        register_secret(url_password(url))
        self._url = url
        self._connect = connect
        self._api: HqReadApi | None = None
        self._lock = threading.Lock()
        self._failing: str | None = None
        """The reason of the current outage (logged once, not at every retry)."""

    @property
    def masked_url(self) -> str:
        return mask_url(self._url)

    def read(self, fn: Callable[[HqReadApi], T]) -> T:
        """``fn(api)`` on the open connection (opened now if needed); a database error closes it and
        comes back as :class:`CentralUnavailable`."""
        with self._lock:
            try:
                if self._api is None:
                    self._api = self._connect(self._url)
                result = fn(self._api)
            except psycopg.Error as exc:
                self._drop()
                # one line, without the end punctuation: the console puts it inside a sentence of its own
                reason = redact(" ".join(str(exc).split())).rstrip(" .?!") or exc.__class__.__name__
                if isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)):
                    reason += "; the central schema is missing there: run app.py hq init --db ADMIN_URL at HQ"
                if reason != self._failing:
                    log.warning("central database %s: %s", self.masked_url, reason)
                self._failing = reason
                raise CentralUnavailable(self.masked_url, reason) from None
            if self._failing is not None:
                log.info("central database %s readable again", self.masked_url)
                self._failing = None
            return result

    def _drop(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            try:
                api.close()
            except psycopg.Error:
                pass  # already broken: closing it is all that was left to do

    def close(self) -> None:
        with self._lock:
            self._drop()
