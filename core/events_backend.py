"""The seam between presence/alerts/reports and storage: :class:`EventBackend`, its row types and errors.

The presence logic, the alert outbox and the reports only use what is declared here, so a central
PostgreSQL backend (a chain of outlets) can implement it later without touching them. The SQLite
implementation is :class:`core.events_db.EventStore`.

Every storage problem reaches callers as an :class:`EventStoreError` (never a raw driver error): the
router catches that one type, keeps running and shows the sentence it carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ALERT_PENDING, ALERT_SENT, ALERT_FAILED, ALERT_SKIPPED = "pending", "sent", "failed", "skipped"


class EventStoreError(Exception):
    """The events database cannot be used right now; the message names the file and what to do."""


class EventStoreLocked(EventStoreError):
    """Another program holds the file."""


class EventStoreCorrupt(EventStoreError):
    """The file is damaged (and recovery was not asked for)."""


class EventStoreFull(EventStoreError):
    """The disk (or the folder's quota) is full: nothing more can be written until space is freed."""


class EventStoreReadOnly(EventStoreError):
    """The file or its folder cannot be written (read-only file, folder or drive)."""


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    created: float
    spg_id: str | None
    kind: str
    text: str
    photo: bytes | None
    status: str
    attempts: int
    next_attempt: float
    last_error: str | None
    sent_at: float | None


@dataclass(frozen=True, slots=True)
class TransitionRow:
    id: int
    ts: float
    spg_id: str
    from_state: str
    to_state: str
    camera_id: str
    last_seen: float | None
    alert: bool


@dataclass(frozen=True, slots=True)
class IntervalRow:
    id: int
    spg_id: str
    start: float
    last_seen: float
    closed: bool


@dataclass(frozen=True, slots=True)
class StateRow:
    spg_id: str
    state: str
    since: float | None
    last_seen: float | None
    last_camera: str
    interval_id: int | None


class EventBackend(Protocol):
    """What presence, alerts and reports need from storage (SQLite now; PostgreSQL later).

    Every method raises only :class:`EventStoreError` (and its subclasses) for storage problems.
    """

    def log_hit(self, ts: float, spg_id: str, camera_id: str, similarity: float | None = None) -> None: ...
    def touch_interval(self, interval_id: int, last_seen: float) -> None: ...
    def heartbeat(self, ts: float) -> None: ...
    def flush(self) -> None: ...
    def flush_due(self) -> None: ...
    def record_transition(self, t: Any, state: StateRow, interval: tuple[str, Any] | None,
                          alert: tuple[str, str, bytes | None, str] | None) -> tuple[int, int | None, int | None]: ...
    def close_interval(self, spg_id: str, interval_id: int, last_seen: float | None) -> None: ...
    def open_interval(self, spg_id: str, start: float) -> int: ...
    def load_states(self) -> list[StateRow]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def add_alert(self, created: float, spg_id: str | None, kind: str, text: str, photo: bytes | None = None,
                  status: str = ALERT_PENDING) -> int: ...
    def pending_alerts(self) -> list[AlertRow]: ...
    def mark_alert_sent(self, alert_id: int, ts: float, message_id: int | None = None) -> None: ...
    def mark_alert_retry(self, alert_id: int, next_attempt: float, error: str) -> None: ...
    def mark_alert_failed(self, alert_id: int, error: str) -> None: ...
    def alerts_between(self, start: float, end: float) -> list[AlertRow]: ...
    def transitions_between(self, start: float, end: float,
                            spg_ids: Sequence[str] | None = None) -> list[TransitionRow]: ...
    def intervals_between(self, start: float, end: float,
                          spg_ids: Sequence[str] | None = None) -> list[IntervalRow]: ...
    def hits_between(self, start: float, end: float,
                     spg_ids: Sequence[str] | None = None) -> list[tuple[float, str, str, float | None]]: ...
    def prune_hits(self, older_than: float) -> int: ...
    def forget_face_photos(self, spg_id: str) -> int: ...
    def forget_presence(self, spg_id: str, why: str = ...) -> int: ...
    def close(self) -> None: ...
