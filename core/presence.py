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
  Break windows (``excused``) do not count towards ``absent_seconds`` at all: an SPG away only during a
  break never becomes ABSENT, one who stays away after it is alerted ``absent_seconds`` of duty time later.
* Absence of observation is not absence ("no view"). For a watched camera (one whose processed frames
  are reported with :meth:`PresenceEngine.frame`) an SPG last seen there is absent only as far as its
  processed frames reach: up to the capture time of the newest one (plus a little tolerance), never up
  to "now". So a slow or stalled inference server or router delays the verdict instead of inventing
  absence. A gap between processed captures longer than the camera's usual rhythm (camera offline,
  inference server frozen and restarted) is a period without view, credited like downtime; so is the time
  the router reports the camera not live or the inference server down (:meth:`PresenceEngine.set_health`).
  A caller that never reports frames gets the plain time-based behaviour.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from core.clock import Clock, as_clock

SUSPEND_GAP_S = 30.0
VIEW_STALE_MIN_S = 1.0
"""A watched camera without a processed frame for longer than this (or 4 of its usual frame gaps) has no view."""
MAX_BLIND_PERIODS = 4096
EPS = 1e-6


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


Period = tuple[float, float]


@dataclass(slots=True)
class CameraView:
    """What the engine knows of one camera's view (monotonic CAPTURE times of its processed frames)."""

    last_capture: float | None = None
    """Capture time of the newest processed frame: absence is evidenced up to here, not up to now."""
    gap_ema: float = 0.0
    """Usual time between two processed captures."""
    offline_since: float | None = None
    """The router said the camera is not live (since then, monotonic)."""
    blind: deque[Period] = field(default_factory=lambda: deque(maxlen=MAX_BLIND_PERIODS))
    """Closed periods (start, end) without a view."""

    def stale_s(self) -> float:
        return max(VIEW_STALE_MIN_S, 4.0 * self.gap_ema)


def _covered(periods: list[Period], a: float, b: float) -> float:
    """Seconds of (a, b] inside the union of ``periods``."""
    if b <= a:
        return 0.0
    clipped = sorted((max(s, a), min(e, b)) for s, e in periods if e > a and s < b)
    if not clipped:
        return 0.0
    total = 0.0
    cur_s, cur_e = clipped[0]
    for s, e in clipped[1:]:
        if s > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + (cur_e - cur_s)


class PresenceEngine:
    def __init__(
        self,
        settings: Any,
        clock: Clock | None = None,
        on_duty: Callable[[str, float], bool] | None = None,
        suspend_gap_s: float = SUSPEND_GAP_S,
        excused: Callable[[str, float, float], float] | None = None,
    ):
        """``settings``: a :class:`core.config.PresenceConfig` (grace_seconds, absent_seconds, confirm_hits,
        confirm_window_s). ``on_duty(spg_id, wall_ts)``: may an absence at that time raise an alert (default:
        always). ``excused(spg_id, wall_a, wall_b)``: seconds of that span that do not count as absence
        (break windows, :meth:`core.shifts.ShiftBook.excused_s`); default none."""
        self.grace_s = float(settings.grace_seconds)
        self.absent_s = float(settings.absent_seconds)
        self.confirm_hits = int(settings.confirm_hits)
        self.confirm_window_s = float(settings.confirm_window_s)
        self.clock = as_clock(clock)
        self.on_duty = on_duty or (lambda _spg, _ts: True)
        self.suspend_gap_s = float(suspend_gap_s)
        self.excused = excused
        self._spg: dict[str, SpgState] = {}
        self._last_mono: float | None = None
        self.downtime_s = 0.0
        """Total time credited as downtime (suspend / frozen process)."""
        self._views: dict[str, CameraView] = {}
        self._inference_down_since: float | None = None
        self._global_blind: deque[Period] = deque(maxlen=MAX_BLIND_PERIODS)

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

    def watched_cameras(self) -> list[str]:
        """Cameras whose processed frames have been reported (their view is tracked)."""
        return [c for c, v in self._views.items() if v.last_capture is not None]

    def no_view(self, spg_id: str) -> bool:
        """True while the SPG is PRESENT (or in grace) but nothing can currently see where they were."""
        return self.no_view_since(spg_id) is not None

    def no_view_since(self, spg_id: str) -> float | None:
        """Monotonic time the SPG's current "no view" began, or None when they are in view (or not present)."""
        st = self._spg.get(spg_id)
        if st is None or not st.state.is_present:
            return None
        return self._no_view_since(st.last_camera, self.clock.monotonic())

    def camera_has_view(self, camera_id: str, mono: float | None = None) -> bool:
        return self._no_view_since(camera_id, self.clock.monotonic() if mono is None else mono) is None

    def _no_view_since(self, camera_id: str, now: float) -> float | None:
        starts = [s for s, e in self._open_periods(camera_id) if s <= now < e]
        v = self._views.get(camera_id)
        if v is not None and v.last_capture is not None and now - v.last_capture > v.stale_s():
            starts.append(v.last_capture + self._tolerance())
        return min(starts) if starts else None

    def _tolerance(self) -> float:
        """How far past the newest processed capture absence may be counted: the frames in flight. Less than
        grace, so an SPG in every processed frame never drops into grace however slow the pipeline is."""
        limit = self.grace_s if self.grace_s > 0 else self.absent_s
        return min(VIEW_STALE_MIN_S, 0.5 * limit)

    # --- inputs --------------------------------------------------------------------------------
    def frame(self, camera_id: str, captured: float | None = None) -> None:
        """A processed frame of ``camera_id`` (with or without faces), captured at monotonic ``captured``
        (default now): the camera's view reaches that far. A gap since the previous capture longer than the
        camera's usual rhythm was a period without view."""
        now = self.clock.monotonic()
        self._advance(now)
        captured = now if captured is None else min(captured, now)
        v = self._views.get(camera_id)
        if v is None:
            v = self._views[camera_id] = CameraView()
        if v.last_capture is not None:
            if captured <= v.last_capture:
                return
            gap = captured - v.last_capture
            stale = v.stale_s()
            if gap > stale:
                v.blind.append((v.last_capture + self._tolerance(), captured))
                self._prune(v.blind)
            # An outage counts as at most twice the stale time: slow cameras are learnt within a few frames,
            # and one outage does not hide the next.
            g = min(gap, 2.0 * stale)
            v.gap_ema = g if v.gap_ema == 0.0 else 0.8 * v.gap_ema + 0.2 * g
        v.last_capture = captured

    def set_health(self, camera_live: dict[str, bool], inference_ok: bool, mono: float | None = None) -> None:
        """What the router knows: which running cameras are live, and whether the inference server answers.

        A camera missing from ``camera_live`` was removed: its view is no longer tracked."""
        now = self.clock.monotonic()
        self._advance(now)
        mono = now if mono is None else min(mono, now)
        for cam in [c for c in self._views if c not in camera_live]:
            del self._views[cam]
        for cam, live in camera_live.items():
            v = self._views.get(cam)
            if v is None:
                v = self._views[cam] = CameraView()
            if not live and v.offline_since is None:
                v.offline_since = mono
            elif live and v.offline_since is not None:
                v.blind.append((v.offline_since, mono))
                v.offline_since = None
        if not inference_ok and self._inference_down_since is None:
            self._inference_down_since = mono
        elif inference_ok and self._inference_down_since is not None:
            self._global_blind.append((self._inference_down_since, mono))
            self._prune(self._global_blind)
            self._inference_down_since = None

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

    def _open_periods(self, camera_id: str) -> list[Period]:
        out: list[Period] = []
        if self._inference_down_since is not None:
            out.append((self._inference_down_since, float("inf")))
        v = self._views.get(camera_id)
        if v is not None and v.offline_since is not None:
            out.append((v.offline_since, float("inf")))
        return out

    def _blind_periods(self, camera_id: str) -> list[Period]:
        out = self._open_periods(camera_id) + list(self._global_blind)
        v = self._views.get(camera_id)
        if v is not None:
            out.extend(v.blind)
        return out

    def _prune(self, periods: deque[Period]) -> None:
        """Drop periods that ended before the oldest sighting that still counts."""
        oldest = min((st.last_seen_mono for st in self._spg.values()
                      if st.state.is_present and st.last_seen_mono is not None), default=None)
        while periods and (oldest is None or periods[0][1] < oldest):
            periods.popleft()

    def idle_s(self, st: SpgState, mono: float) -> float:
        """Seconds without a hit that count: from the last sighting to as far as the view reaches, minus the
        time without view."""
        return self._idle(st, mono)[0]

    def _idle(self, st: SpgState, mono: float) -> tuple[float, float]:
        """(idle seconds, seconds without view since the last sighting)."""
        if st.last_seen_mono is None:
            return 0.0, 0.0
        horizon = mono
        v = self._views.get(st.last_camera)
        if v is not None and v.last_capture is not None:
            horizon = min(mono, v.last_capture + self._tolerance())
        covered = _covered(self._blind_periods(st.last_camera), st.last_seen_mono, horizon)
        return horizon - st.last_seen_mono - covered, covered

    def _evaluate(self, st: SpgState, mono: float, wall: float) -> list[Transition]:
        if not st.state.is_present or st.last_seen_mono is None:
            return []
        idle, blind = self._idle(st, mono)
        seen_wall = wall - (mono - st.last_seen_mono)  # wall time of the last sighting
        excused = 0.0
        if self.excused is not None and idle > 0:
            # break time is not absence: the countdown stands still inside a break window
            excused = min(idle, self.excused(st.spg_id, seen_wall, seen_wall + idle + blind))
            idle -= excused
        out: list[Transition] = []
        if idle >= self.absent_s - EPS:
            at = seen_wall + self.absent_s + blind + excused
            t = self._move(st, State.ABSENT, at, st.last_camera)
            t.alert = bool(self.on_duty(st.spg_id, at))
            out.append(t)
        elif self.grace_s > 0 and idle >= self.grace_s - EPS and st.state is State.PRESENT:
            out.append(self._move(st, State.GRACE, seen_wall + self.grace_s + blind + excused, st.last_camera))
        return out

    def _move(self, st: SpgState, to: State, at: float, camera_id: str) -> Transition:
        frm = st.state
        assert (frm, to) in ALLOWED, f"illegal transition {frm} -> {to}"
        t = Transition(st.spg_id, frm, to, at, camera_id, st.last_seen)
        st.state = to
        if not (frm.is_present and to.is_present):
            st.since = at  # PRESENT<->GRACE stays inside PRESENT: 'since' keeps the arrival time
        return t
