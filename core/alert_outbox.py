"""Persistent alert outbox: alerts are rows in the events database first, and delivered from there.

* Order: pending alerts go out oldest first; while the oldest waits for a retry, the later ones wait too
  (a Telegram chat reads top to bottom).
* Network errors, stalled answers (past the client's total deadline), timeouts and 5xx: retried with
  exponential backoff (``base_backoff_s`` doubling up to ``max_backoff_s``, 30 s: a recovered Telegram is
  probed soon). 429: retried after the server's ``retry_after``.
* Other 4xx (bad token, bad chat id, bad request): the alert is marked ``failed`` with a sentence saying
  what to fix (:attr:`AlertOutbox.last_error`); it is not retried.
* No duplicates: an alert is marked ``sent`` in the same moment the Bot API confirms it; after a restart
  only ``pending`` rows are sent. (The window between Telegram's answer and that commit is a few
  milliseconds; a crash exactly there would resend once - at-least-once is chosen over losing an alert.)

A delivery thread (:meth:`start`) runs :meth:`deliver_due` whenever woken (:meth:`notify`) or every
``poll_s``. Tests call :meth:`deliver_due` directly with a fake clock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from core.clock import Clock, as_clock
from core.config import TelegramConfig
from core.events_backend import EventStoreError
from core.secrets import redact
from core.telegram import TelegramClient, TelegramError, TelegramRejected, TelegramRetryable

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
"""Retries never wait longer than this, so alerts go out within about half a minute of Telegram recovering."""


class AlertOutbox:
    @classmethod
    def for_telegram(cls, tg_cfg: TelegramConfig, store: Any, **kwargs: Any) -> AlertOutbox:
        """The outbox for this Telegram config, its delivery thread started.
        Raises :class:`core.telegram.TelegramError` when Telegram is off or not configured."""
        if not tg_cfg.enabled:
            raise TelegramError("Telegram alerts are off (telegram.enabled: false)")
        return cls(TelegramClient.from_config(tg_cfg), store, **kwargs)

    def __init__(self, client: TelegramClient, store: Any, clock: Clock | None = None, *,
                 base_backoff_s: float = 2.0, max_backoff_s: float = MAX_BACKOFF_S, poll_s: float = 1.0,
                 start: bool = True):
        self.client = client
        self.store = store
        self.clock = as_clock(clock)
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.poll_s = poll_s
        self.last_error: str | None = None
        """The last delivery problem, as a sentence (secrets redacted); None after a success."""
        self.sent_count = 0
        self.pending = 0
        """Alerts waiting for delivery at the last pass (the metrics' outbox depth)."""
        self.failures = 0
        """Delivery attempts that failed since start, retried or not."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent_unsaved: dict[int, tuple[float, int | None]] = {}
        self._store_logged: float | None = None
        if start:
            self.start()

    # --- delivery ------------------------------------------------------------------------------
    def deliver_due(self) -> int:
        """Send every pending alert whose time has come, in order. Returns how many were sent.

        The events database may refuse writes (full disk): an alert Telegram accepted but whose "sent" mark
        could not be stored is remembered here and never sent again; its mark is stored once writes work."""
        with self._lock:
            self._store_sent_marks()
            sent = 0
            rows = self.store.pending_alerts()
            self.pending = len(rows)
            for row in rows:
                if row.id in self._sent_unsaved:
                    continue
                now = self.clock.time()
                if row.next_attempt > now:
                    break  # keep the order: later alerts wait behind this one
                try:
                    result = self._send(row)
                except TelegramRetryable as exc:
                    self.failures += 1
                    delay = exc.retry_after if exc.retry_after is not None else self._backoff(row.attempts)
                    self.last_error = redact(str(exc))
                    self.store.mark_alert_retry(row.id, now + delay, self.last_error)
                    log.warning("alert %d not delivered (%s); next try in %.0f s", row.id, self.last_error, delay)
                    break
                except TelegramRejected as exc:
                    self.failures += 1
                    self.pending -= 1
                    self.last_error = redact(str(exc))
                    self.store.mark_alert_failed(row.id, self.last_error)
                    log.error("alert %d rejected by Telegram, not retried: %s", row.id, self.last_error)
                    continue
                except Exception as exc:  # noqa: BLE001 - an unexpected error must not kill the thread
                    self.failures += 1
                    delay = self._backoff(row.attempts)
                    self.last_error = redact(f"{exc.__class__.__name__}: {exc}")
                    self.store.mark_alert_retry(row.id, now + delay, self.last_error)
                    log.exception("alert %d delivery failed", row.id)
                    break
                msg_id = result.get("message_id") if isinstance(result, dict) else None
                self._sent_unsaved[row.id] = (self.clock.time(), msg_id)
                self._store_sent_marks()
                self.last_error = None
                self.sent_count += 1
                self.pending -= 1
                sent += 1
            return sent

    def _store_sent_marks(self) -> None:
        for alert_id, (ts, msg_id) in list(self._sent_unsaved.items()):
            try:
                self.store.mark_alert_sent(alert_id, ts, msg_id)
            except EventStoreError as exc:
                log.warning("alert %d was delivered but cannot be marked sent yet (%s); it is not sent again",
                            alert_id, exc)
                return
            del self._sent_unsaved[alert_id]

    def _send(self, row: Any) -> Any:
        if not row.photo:
            return self.client.send_message(row.text)
        try:
            return self.client.send_photo(row.photo, row.text)
        except TelegramRejected as exc:
            if exc.status != 400:
                raise
            # Telegram refused the picture itself (size, format): the alert still goes out, as text.
            log.warning("alert %d: photo refused (%s); sending the text alone", row.id, redact(str(exc)))
            return self.client.send_message(row.text)

    def _backoff(self, attempts: int) -> float:
        return float(min(self.max_backoff_s, self.base_backoff_s * (2 ** max(0, attempts))))

    # --- thread --------------------------------------------------------------------------------
    def notify(self) -> None:
        """A new alert was queued: deliver now."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alert-outbox", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except EventStoreError as exc:  # full disk, locked file: the alerts wait in the database
                mono = self.clock.monotonic()
                if self._store_logged is None or mono - self._store_logged >= 60.0:
                    self._store_logged = mono
                    log.error("alert delivery paused: %s", exc)
            except Exception:  # noqa: BLE001
                log.exception("alert outbox pass failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
