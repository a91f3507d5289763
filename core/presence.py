"""The presence state machine of every SPG (seed section 4), pure logic with an injected clock.

::

    NOT_SEEN --confirmed hit--> PRESENT(active) --no hit >= grace--> PRESENT(grace) --hit--> PRESENT(active)
    PRESENT(active|grace) --no hit >= absent--> ABSENT (exactly one alert, only on duty)
    ABSENT --confirmed hit--> PRESENT(active)            (re-entry; a new alert is possible later)

* A hit from ANY camera counts (ANY-of-N): the engine does not look at the camera except to remember it.
* A hit confirms presence only when ``confirm_hits`` hits arrive within ``confirm_window_s`` (one false
  match marks nobody present). While PRESENT every single hit counts.
* Durations are measured on the MONOTONIC clock; the wall clock only labels events. An NTP correction
  therefore changes nothing. A pause longer than ``suspend_gap_s`` between two calls (the PC slept, the
  process was frozen) is treated as DOWNTIME, not absence: every countdown is shifted by the gap, so after
  a resume nobody is alerted at once; someone who really left is alerted ``absent_seconds`` after the
  resume, once. (On Linux the monotonic clock stops during sleep, so the gap never even shows there.)
* Outside a shift (``on_duty`` returns False) the ABSENT transition still happens but carries no alert.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from core.clock import Clock, as_clock

SUSPEND_GAP_S = 30.0


class State(str, Enum):
    NOT_SEEN = "not_seen"
    PRESENT = "present"
    """PRESENT, active sub-state."""
    GRACE = "grace"
    """PRESENT, grace sub-state (no hit for grace_seconds)."""
    ABSENT = "absent"

    @property
    def is_present(self) -> bool:
        return self in (State.PRESENT, State.GRACE)


# Every arrow of the seed diagram (and nothing else).
ALLOWED = {
    (State.NOT_SEEN, State.PRESENT),
    (State.PRESENT, State.GRACE),
    (State.GRACE, State.PRESENT),
    (State.PRESENT, State.ABSENT),
    (State.GRACE, State.ABSENT),
    (State.ABSENT, State.PRESENT),
}


@dataclass(slots=True)
class Transition:
    spg_id: str
    from_state: State
    to_state: State
    timestamp: float
    """Wall-clock time the transition took effect."""
    camera_id: str = ""
    """The camera of the hit that caused it, or the last camera that saw the SPG."""
    last_seen: float | None = None
    """Wall-clock time of the last hit before this transition."""
    alert: bool = False
    """True for exactly one transition per absence that happened on duty."""
    name: str = ""
    message: str = ""
    id: int | None = None
    """Database id once stored."""

    @property
    def new_state(self) -> State:
        return self.to_state


@dataclass(slots=True)
class SpgState:
    spg_id: str
    state: State = State.NOT_SEEN
    since: float | None = None
    """Wall time the current state began."""
    last_seen: float | None = None
    last_seen_mono: float | None = None
    last_camera: str = ""
    pending: deque[tuple[float, float, str]] = field(default_factory=deque)
    """Unconfirmed hits (mono, wall, camera) while NOT_SEEN or ABSENT."""


class PresenceEngine:
    def __init__(
        self,
        settings: Any,
        clock: Clock | None = None,
        on_duty: Callable[[str, float], bool] | None = None,
        suspend_gap_s: float = SUSPEND_GAP_S,
    ):
        """``settings``: a :class:`core.config.PresenceConfig` (grace_seconds, absent_seconds, confirm_hits,
        confirm_window_s). ``on_duty(spg_id, wall_ts)``: the shift check (default: always on duty)."""
        self.grace_s = float(settings.grace_seconds)
        self.absent_s = float(settings.absent_seconds)
        self.confirm_hits = int(settings.confirm_hits)
        self.confirm_window_s = float(settings.confirm_window_s)
        self.clock = as_clock(clock)
        self.on_duty = on_duty or (lambda _spg, _ts: True)
        self.suspend_gap_s = float(suspend_gap_s)
        self._spg: dict[str, SpgState] = {}
        self._last_mono: float | None = None
        self.downtime_s = 0.0
        """Total time credited as downtime (suspend / frozen process)."""

    # --- state access --------------------------------------------------------------------------
    def states(self) -> dict[str, SpgState]:
        return self._spg

    def state_of(self, spg_id: str) -> SpgState:
        st = self._spg.get(spg_id)
        if st is None:
            st = self._spg[spg_id] = SpgState(spg_id)
        return st

    def forget(self, spg_id: str) -> None:
        self._spg.pop(spg_id, None)

    def restore(self, spg_id: str, state: State | str, since: float | None, last_seen: float | None,
                last_camera: str = "", idle_s: float = 0.0) -> None:
        """Resume an SPG from storage: ``idle_s`` = seconds without a hit that had already passed while the
        application was running (the downtime in between is not counted)."""
        st = self.state_of(spg_id)
        st.state = State(state)
        st.since = since
        st.last_seen = last_seen
        st.last_camera = last_camera or ""
        st.pending.clear()
        if st.state.is_present and last_seen is not None:
            st.last_seen_mono = self.clock.monotonic() - max(0.0, idle_s)

    # --- inputs --------------------------------------------------------------------------------
    def hit(self, spg_id: str, camera_id: str, wall: float | None = None,
            mono: float | None = None) -> list[Transition]:
        """One recognised face of ``spg_id`` on ``camera_id`` (times default to now)."""
        now_mono = self.clock.monotonic()
        self._advance(now_mono)
        mono = now_mono if mono is None else min(mono, now_mono)
        wall = self.clock.time() if wall is None else wall
        st = self.state_of(spg_id)
        out = self._evaluate(st, mono, wall)
        if st.state.is_present:
            if st.last_seen_mono is None or mono >= st.last_seen_mono:
                st.last_seen_mono, st.last_seen, st.last_camera = mono, wall, camera_id
            if st.state is State.GRACE:
                out.append(self._move(st, State.PRESENT, wall, camera_id))
            return out
        # NOT_SEEN or ABSENT: needs confirmation.
        st.pending.append((mono, wall, camera_id))
        while st.pending and mono - st.pending[0][0] > self.confirm_window_s:
            st.pending.popleft()
        if len(st.pending) >= self.confirm_hits:
            first_wall = min(w for _, w, _ in st.pending)
            st.pending.clear()
            st.last_seen_mono, st.last_seen, st.last_camera = mono, wall, camera_id
            out.append(self._move(st, State.PRESENT, first_wall, camera_id))
        return out

    def tick(self) -> list[Transition]:
        """Fire the time-driven transitions (grace, absent). Call about once a second."""
        mono = self.clock.monotonic()
        self._advance(mono)
        wall = self.clock.time()
        out: list[Transition] = []
        for st in list(self._spg.values()):
            out.extend(self._evaluate(st, mono, wall))
        return out

    # --- internals -----------------------------------------------------------------------------
    def _advance(self, mono: float) -> None:
        last = self._last_mono
        self._last_mono = mono if last is None else max(last, mono)
        if last is None:
            return
        gap = mono - last
        if gap > self.suspend_gap_s:
            # Downtime (suspend/resume, frozen process): nobody's absence countdown runs meanwhile.
            self.downtime_s += gap
            for st in self._spg.values():
                if st.last_seen_mono is not None:
                    st.last_seen_mono += gap
                if st.pending:
                    st.pending.clear()

    def _evaluate(self, st: SpgState, mono: float, wall: float) -> list[Transition]:
        if not st.state.is_present or st.last_seen_mono is None:
            return []
        idle = mono - st.last_seen_mono
        out: list[Transition] = []
        if idle >= self.absent_s:
            at = wall - (idle - self.absent_s)
            t = self._move(st, State.ABSENT, at, st.last_camera)
            t.alert = bool(self.on_duty(st.spg_id, at))
            out.append(t)
        elif self.grace_s > 0 and idle >= self.grace_s and st.state is State.PRESENT:
            at = wall - (idle - self.grace_s)
            out.append(self._move(st, State.GRACE, at, st.last_camera))
        return out

    def _move(self, st: SpgState, to: State, at: float, camera_id: str) -> Transition:
        frm = st.state
        assert (frm, to) in ALLOWED, f"illegal transition {frm} -> {to}"
        t = Transition(st.spg_id, frm, to, at, camera_id, st.last_seen)
        st.state = to
        if not (frm.is_present and to.is_present):
            st.since = at  # PRESENT<->GRACE stays inside PRESENT: 'since' keeps the arrival time
        return t
