"""The attendance service's declared shape: what the router (``workers/router.py``) calls on it.

:class:`core.attendance.AttendanceService` implements it; the UI's test fake does too, and mypy checks both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.central.link_state import LinkState
from core.messages import FrameResult
from core.presence import Transition

Snapshot = np.ndarray | Callable[[], np.ndarray | None] | None
"""The frame of a result, or a callable that reads it only when a face needs a crop."""


@dataclass(frozen=True, slots=True)
class SpgPresence:
    spg_id: str
    name: str
    state: str
    """'not_seen', 'present', 'grace' or 'absent'."""
    since: float | None
    last_seen: float | None
    last_camera: str
    present_today_s: float
    shift_status: str
    """'on duty', 'off duty' or 'no shift'."""
    in_grace: bool = False
    no_view: bool = False
    """PRESENT, but nothing can see where they were (camera offline, inference down)."""


@dataclass(frozen=True, slots=True)
class PipelineHealth:
    """What the pipeline can see right now: the router passes it on whenever it changes."""

    cameras: frozenset[str]
    """Every camera the pipeline runs."""
    live_cameras: frozenset[str]
    """Cameras that deliver frames (state 'live')."""
    inference_up: bool
    """The inference server (or thread) runs and has its engine loaded."""


@dataclass(frozen=True, slots=True)
class AttendanceStatus:
    """How the attendance service's own dependencies are doing (the router hands it to the metrics)."""

    store_ok: bool
    """The events database takes writes (False while transitions wait in memory for it)."""
    alerts_pending: int = 0
    """Alerts waiting in the outbox for delivery (0 when no alert channel is set up)."""
    alert_failures: int = 0
    """Failed delivery attempts since start (retried ones included)."""


@dataclass(frozen=True, slots=True)
class FraudAlert:
    """A possible photo or screen of an SPG at a camera (one per episode, ``core.fraud_checks``)."""

    timestamp: float
    spg_id: str
    name: str
    camera_id: str
    kind: str
    """A :class:`core.messages.Fraud` value: 'liveness' or 'still_face'."""
    text: str
    """The alert text as it goes to the alert channel (outlet language, HTML)."""
    liveness: float | None = None


class AttendanceApi(Protocol):
    def on_frame_result(self, result: FrameResult, snapshot: Snapshot = None) -> list[Transition]:
        """Every matched face is a hit; returns the transitions it caused."""
        ...

    def tick(self) -> list[Transition]:
        """Time-driven transitions (grace, absent), about once a second."""
        ...

    def snapshot(self) -> list[SpgPresence]:
        """One row per enrolled SPG, for the presence table."""
        ...

    def refresh_people(self) -> bool:
        """The gallery changed: re-read the names. False when the gallery could not be read."""
        ...

    def on_pipeline_health(self, camera_live: Mapping[str, bool], inference_ok: bool,
                           ended: Collection[str] = ()) -> None:
        """What the router can see right now (``core.pipeline_health``), once per step before :meth:`tick`."""
        ...

    def status(self) -> AttendanceStatus:
        """Database health and the alert outbox's depth and failures, cheap enough for every second."""
        ...

    def link_state(self) -> LinkState:
        """The link to the central database (``enabled`` False when none is configured)."""
        ...

    def take_fraud_alerts(self) -> list[FraudAlert]:
        """The fraud alerts raised since the last call (for the event log and the headless output)."""
        ...

    def close(self) -> None: ...
