"""Presence engine (core.presence) with an injected clock: every arrow of the seed diagram, the seed's
edge cases, grace/absent boundaries, flicker, clock jumps, shifts; plus a hypothesis property test."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from core.clock import FakeClock
from core.config import PresenceConfig
from core.presence import ALLOWED, PresenceEngine, State
from core.shifts import ShiftBook, ShiftSchedule

GRACE, ABSENT = 10.0, 60.0


def make(clock=None, on_duty=None, confirm_hits=2, window=5.0, grace=GRACE, absent=ABSENT):
    clock = clock or FakeClock()
    cfg = PresenceConfig(grace_seconds=grace, absent_seconds=absent, confirm_hits=confirm_hits, confirm_window_s=window)
    return PresenceEngine(cfg, clock, on_duty=on_duty), clock


def arrive(eng, clock, spg="ana", cam="cam1"):
    """Two hits one second apart: a confirmed arrival."""
    out = eng.hit(spg, cam)
    clock.advance(1)
    out += eng.hit(spg, cam)
    return out


def run_ticks(eng, clock, seconds, step=1.0):
    out = []
    t = 0.0
    while t < seconds - 1e-9:
        clock.advance(step)
        t += step
        out += eng.tick()
    return out


def arrows(ts):
    return [(t.from_state, t.to_state) for t in ts]


def test_first_confirmed_hit_makes_present_since_the_first_hit():
    eng, clock = make()
    t0 = clock.time()
    assert eng.hit("ana", "cam1") == []  # one hit alone: not yet
    assert eng.state_of("ana").state is State.NOT_SEEN
    clock.advance(1)
    out = eng.hit("ana", "cam1")
    assert arrows(out) == [(State.NOT_SEEN, State.PRESENT)]
    assert eng.state_of("ana").since == t0


def test_one_false_match_marks_nobody_present():
    eng, clock = make()
    eng.hit("ana", "cam1")
    clock.advance(6)  # outside the 5 s confirm window
    assert eng.hit("ana", "cam1") == []
    assert eng.state_of("ana").state is State.NOT_SEEN
    assert run_ticks(eng, clock, 120) == []


def test_grace_boundary_and_back_to_active():
    eng, clock = make()
    arrive(eng, clock)
    assert run_ticks(eng, clock, GRACE - 1) == []
    assert eng.state_of("ana").state is State.PRESENT
    out = run_ticks(eng, clock, 1)
    assert arrows(out) == [(State.PRESENT, State.GRACE)]
    assert eng.state_of("ana").state.is_present
    clock.advance(1)
    assert arrows(eng.hit("ana", "cam2")) == [(State.GRACE, State.PRESENT)]


def test_absent_boundary_exactly_one_alert():
    eng, clock = make()
    arrive(eng, clock)
    last_seen = clock.time()
    out = run_ticks(eng, clock, ABSENT - 1)
    assert arrows(out) == [(State.PRESENT, State.GRACE)]
    out = run_ticks(eng, clock, 1)
    assert arrows(out) == [(State.GRACE, State.ABSENT)]
    assert out[0].alert is True and out[0].last_seen == last_seen
    assert out[0].timestamp == pytest.approx(last_seen + ABSENT)
    assert run_ticks(eng, clock, 3600, step=10) == []  # none repeated while absent


def test_absent_timestamp_exact_when_ticks_are_sparse():
    eng, clock = make()
    arrive(eng, clock)
    clock.advance(ABSENT + 7.5)  # the router was slow; still below the suspend gap? no: use one tick
    out = eng.tick()
    # 67.5 s > SUSPEND_GAP_S: treated as downtime, never an alert burst
    assert [t for t in out if t.alert] == []
    eng2, clock2 = make()
    arrive(eng2, clock2)
    ls2 = clock2.time()
    clock2.advance(20)
    eng2.tick()
    clock2.advance(20)
    eng2.tick()
    clock2.advance(25)  # idle 65 s
    out = eng2.tick()
    assert arrows(out) == [(State.GRACE, State.ABSENT)]
    assert out[0].timestamp == pytest.approx(ls2 + ABSENT)


def test_reentry_then_a_new_alert_is_possible():
    eng, clock = make()
    arrive(eng, clock)
    first = [t for t in run_ticks(eng, clock, ABSENT + 5) if t.alert]
    assert len(first) == 1
    out = arrive(eng, clock, cam="cam2")
    assert arrows(out) == [(State.ABSENT, State.PRESENT)]
    assert eng.state_of("ana").last_camera == "cam2"
    second = [t for t in run_ticks(eng, clock, ABSENT + 5) if t.alert]
    assert len(second) == 1


def test_flicker_hit_gap_shorter_than_grace_hit():
    eng, clock = make()
    arrive(eng, clock)
    out = []
    for _ in range(30):
        out += run_ticks(eng, clock, GRACE - 2)
        out += eng.hit("ana", "cam1")
    assert out == []
    assert eng.state_of("ana").state is State.PRESENT


def test_any_of_n_cameras():
    eng, clock = make()
    arrive(eng, clock, cam="cam1")
    out = []
    for i in range(20):  # seen only on alternating cameras, never twice in a row on one
        out += run_ticks(eng, clock, 5)
        out += eng.hit("ana", f"cam{i % 3 + 1}")
    assert out == []
    assert eng.state_of("ana").last_camera == "cam2"  # i=19 -> cam2


def test_all_spgs_absent_at_once_one_alert_each():
    eng, clock = make()
    people = [f"spg{i}" for i in range(6)]
    for p in people:
        eng.hit(p, "cam1")
    clock.advance(1)
    for p in people:
        eng.hit(p, "cam2")
    out = run_ticks(eng, clock, ABSENT * 3)
    alerts = [t.spg_id for t in out if t.alert]
    assert sorted(alerts) == people
    assert all(eng.state_of(p).state is State.ABSENT for p in people)


def test_empty_gallery_nothing_happens():
    eng, clock = make()
    assert run_ticks(eng, clock, 600, step=5) == []
    assert eng.states() == {}


def test_ntp_jump_of_the_wall_clock_changes_nothing():
    eng, clock = make()
    arrive(eng, clock)
    clock.jump_wall(+3 * 3600)  # NTP moves the clock 3 h forward
    out = eng.tick()
    clock.jump_wall(-6 * 3600)  # and then back
    out += eng.tick()
    assert out == []
    assert eng.state_of("ana").state is State.PRESENT
    # the absent countdown still runs on the monotonic clock, once
    out = run_ticks(eng, clock, ABSENT)
    assert len([t for t in out if t.alert]) == 1


@pytest.mark.parametrize("mono_counts", [True, False], ids=["windows-like", "linux-like"])
def test_suspend_resume_is_downtime_not_an_alert_burst(mono_counts):
    eng, clock = make()
    for p in ("ana", "budi", "citra"):
        eng.hit(p, "cam1")
    clock.advance(1)
    for p in ("ana", "budi", "citra"):
        eng.hit(p, "cam1")
    clock.suspend(2 * 3600, monotonic_counts_sleep=mono_counts)
    out = eng.tick()
    assert [t for t in out if t.alert] == []
    assert all(eng.state_of(p).state.is_present for p in ("ana", "budi", "citra"))
    # Nobody comes back after the resume: one alert each, absent_seconds later, not before.
    out = run_ticks(eng, clock, ABSENT - 3)
    assert [t for t in out if t.alert] == []
    out = run_ticks(eng, clock, 10)
    assert sorted(t.spg_id for t in out if t.alert) == ["ana", "budi", "citra"]


def test_outside_a_shift_no_alert_but_state_still_absent():
    duty = {"on": False}
    eng, clock = make(on_duty=lambda spg, ts: duty["on"])
    arrive(eng, clock)
    out = run_ticks(eng, clock, ABSENT + 1)
    absent = [t for t in out if t.to_state is State.ABSENT]
    assert len(absent) == 1 and absent[0].alert is False
    duty["on"] = True
    arrive(eng, clock)
    out = run_ticks(eng, clock, ABSENT + 1)
    assert [t.alert for t in out if t.to_state is State.ABSENT] == [True]


def test_shift_schedule_in_outlet_timezone_and_overnight():
    tz = ZoneInfo("Asia/Jakarta")
    sched = ShiftSchedule({"thu": {"start": "09:00", "end": "17:00"}, "fri": {"start": "22:00", "end": "06:00"}}, tz)
    at = lambda *a: datetime(*a, tzinfo=tz).timestamp()  # noqa: E731
    assert sched.on_duty(at(2026, 1, 1, 9, 0))          # Thursday 09:00 local
    assert not sched.on_duty(at(2026, 1, 1, 8, 59))
    assert not sched.on_duty(at(2026, 1, 1, 17, 0))
    assert sched.on_duty(at(2026, 1, 3, 5, 0))          # Saturday 05:00: Friday's night shift
    assert not sched.on_duty(at(2026, 1, 3, 7, 0))
    assert ShiftSchedule({}, tz).on_duty(at(2026, 1, 1, 3, 0))  # no schedule: always on duty
    book = ShiftBook({"thu": {"start": "09:00", "end": "17:00"}}, {"ana": {"thu": {"start": "13:00", "end": "21:00"}}}, "Asia/Jakarta")
    assert book.on_duty("budi", at(2026, 1, 1, 10, 0)) and not book.on_duty("ana", at(2026, 1, 1, 10, 0))
    assert book.status("ana", at(2026, 1, 1, 20, 0)) == "on duty"


def test_shift_end_stops_the_alert_with_real_schedule():
    tz = ZoneInfo("Asia/Jakarta")
    start = datetime(2026, 1, 1, 16, 59, 20, tzinfo=tz).timestamp()
    book = ShiftBook({"thu": {"start": "09:00", "end": "17:00"}}, None, "Asia/Jakarta")
    eng, clock = make(clock=FakeClock(start=start), on_duty=book.on_duty)
    arrive(eng, clock)  # seen at 16:59:21, leaves for home; absent at 17:00:21
    out = run_ticks(eng, clock, ABSENT + 1)
    assert [t.alert for t in out if t.to_state is State.ABSENT] == [False]


def test_grace_zero_goes_straight_to_absent():
    eng, clock = make(grace=0.0)
    arrive(eng, clock)
    out = run_ticks(eng, clock, ABSENT)
    assert arrows(out) == [(State.PRESENT, State.ABSENT)]


# --- property test ----------------------------------------------------------------------------
action = st.one_of(
    st.tuples(st.just("hit"), st.sampled_from(["ana", "budi"]), st.sampled_from(["c1", "c2"]), st.floats(0, 8)),
    st.tuples(st.just("tick"), st.just(""), st.just(""), st.floats(0, 25)),
    st.tuples(st.just("jump"), st.just(""), st.just(""), st.floats(-7200, 7200)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(action, max_size=120), st.integers(1, 3))
def test_property_alerts_equal_present_to_absent_and_states_follow_the_diagram(actions, confirm):
    eng, clock = make(confirm_hits=confirm, grace=5.0, absent=20.0, window=6.0)
    transitions = []
    for kind, spg, cam, dt in actions:
        if kind == "jump":
            clock.jump_wall(dt)
            transitions += eng.tick()
            continue
        clock.advance(dt)
        transitions += eng.hit(spg, cam) if kind == "hit" else eng.tick()
    current: dict[str, State] = {}
    for t in transitions:
        assert (t.from_state, t.to_state) in ALLOWED
        assert current.get(t.spg_id, State.NOT_SEEN) is t.from_state
        current[t.spg_id] = t.to_state
    for spg, s in current.items():
        assert eng.state_of(spg).state is s
    alerts = [t for t in transitions if t.alert]
    to_absent = [t for t in transitions if t.from_state.is_present and t.to_state is State.ABSENT]
    assert len(alerts) == len(to_absent)
    assert all(t.to_state is State.ABSENT for t in alerts)


# --- "no view": absence of observation is not absence (issue 11 item 3) ------------------------------
def watch(eng, clock, seconds, cams=("cam1",), spgs=(), fps=5.0):
    """The router processes frames of ``cams`` at ``fps`` for ``seconds``; ``spgs`` are in view on cams[0]."""
    out = []
    for _ in range(int(round(seconds * fps))):
        for cam in cams:
            eng.frame(cam)
        for spg in spgs:
            out += eng.hit(spg, cams[0])
        out += eng.tick()
        clock.advance(1.0 / fps)
    return out


def test_frames_without_the_spg_still_count_as_absence():
    eng, clock = make()
    watch(eng, clock, 3, spgs=("ana",))
    out = watch(eng, clock, ABSENT + 2)  # the camera keeps seeing: Ana is really gone
    assert arrows(out) == [(State.PRESENT, State.GRACE), (State.GRACE, State.ABSENT)]
    assert out[-1].alert


def test_inference_down_longer_than_absent_seconds_is_no_view_not_absence():
    eng, clock = make()
    watch(eng, clock, 3, spgs=("ana",))
    eng.set_health({"cam1": True}, inference_ok=False)  # the server froze: no frame reaches the router
    assert eng.no_view("ana")
    out = run_ticks(eng, clock, ABSENT * 3)
    assert out == [] and eng.state_of("ana").state is State.PRESENT
    eng.set_health({"cam1": True}, inference_ok=True)  # restarted by the supervisor
    out = watch(eng, clock, 5, spgs=("ana",))  # still standing there
    assert out == [] and not eng.no_view("ana")
    out = watch(eng, clock, ABSENT + 2)  # then she leaves: counted from her last sighting only
    assert arrows(out) == [(State.PRESENT, State.GRACE), (State.GRACE, State.ABSENT)]


def test_frames_that_stop_arriving_are_no_view_even_unreported():
    """A frozen inference server or a stalled router is noticed from the frames alone."""
    eng, clock = make()
    watch(eng, clock, 3, spgs=("ana",))
    out = run_ticks(eng, clock, ABSENT * 2)
    assert out == [] and eng.no_view("ana")
    out = watch(eng, clock, GRACE - 2)  # frames again, without Ana: the count resumes where it stopped
    assert out == []
    out = watch(eng, clock, ABSENT)
    assert arrows(out) == [(State.PRESENT, State.GRACE), (State.GRACE, State.ABSENT)]


def test_camera_offline_only_its_spgs_are_no_view_any_of_n_still_counts():
    eng, clock = make()
    watch(eng, clock, 3, cams=("cam1", "cam2"), spgs=("ana",))  # Ana on cam1
    watch(eng, clock, 3, cams=("cam2", "cam1"), spgs=("budi",))  # Budi on cam2
    eng.set_health({"cam1": False, "cam2": True}, inference_ok=True)  # cam1 goes offline
    out = watch(eng, clock, ABSENT * 2, cams=("cam2",))
    assert [(t.spg_id, t.to_state) for t in out] == [("budi", State.GRACE), ("budi", State.ABSENT)]
    assert eng.state_of("ana").state is State.PRESENT and eng.no_view("ana")
    # Ana walks to cam2 while cam1 is still down: she is in view again there
    out = watch(eng, clock, 3, cams=("cam2",), spgs=("ana",))
    assert out == [] and not eng.no_view("ana") and eng.state_of("ana").last_camera == "cam2"


def test_router_stall_between_frames_is_not_grace():
    """A database locked 2 s per write: frames reach the router in bursts every 2 s, each back-dated to its
    capture time. A visible SPG must not flap PRESENT <-> GRACE."""
    eng, clock = make(grace=2.0, absent=6.0)
    out = []
    captured: list[tuple[float, float]] = []
    next_capture = clock.monotonic()
    for _ in range(40):
        while next_capture <= clock.monotonic():
            captured.append((next_capture, clock.time() - (clock.monotonic() - next_capture)))
            next_capture += 0.2
        for mono, wall in captured:
            eng.frame("cam1", captured=mono)
            out += eng.hit("ana", "cam1", wall=wall, mono=mono)
        captured.clear()
        clock.advance(2.0)  # the write that blocks the router
        out += eng.tick()
    assert arrows(out) == [(State.NOT_SEEN, State.PRESENT)]
