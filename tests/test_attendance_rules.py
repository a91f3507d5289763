"""Attendance rules with the injected clock: breaks (alert path and report), late tolerance, late beyond N =
absent, overtime rounding, holidays and days off, an overnight shift across midnight, and two outlets in
different time zones (Asia/Jakarta, UTC+7, and Asia/Makassar, UTC+8)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.attendance import AttendanceService
from core.attendance_rules import evaluate_day, round_overtime
from core.clock import FakeClock
from core.config import AppConfig, CalendarEntry
from core.day_calendar import DayCalendar
from core.events_db import EventStore
from core.messages import FaceResult, FrameResult
from core.presence import PresenceEngine, State
from core.shifts import ShiftBook

JKT = ZoneInfo("Asia/Jakarta")
MKS = ZoneInfo("Asia/Makassar")
THU = date(2026, 1, 1)  # a Thursday
NAMES = {"ana": "Ana", "budi": "Budi"}
DAY_SHIFT = {"start": "09:00", "end": "17:00", "breaks": [{"start": "12:00", "end": "13:00"}],
             "late_tolerance_min": 5, "absent_if_late_min": 60}


def at(h: int, m: int = 0, s: int = 0, day: date = THU, tz: ZoneInfo = JKT) -> float:
    return datetime(day.year, day.month, day.day, h, m, s, tzinfo=tz).timestamp()


def book(weekly=None, per_spg=None, tz="Asia/Jakarta", calendar=()) -> ShiftBook:
    return ShiftBook(weekly if weekly is not None else {"thu": DAY_SHIFT}, per_spg, tz, DayCalendar(calendar))


def verdict(b: ShiftBook, spg: str, day: date, intervals, clock: FakeClock, step=15, mode="down", minimum=0):
    kind, span, _ = b.day(spg, day)
    return evaluate_day(kind, span, intervals, b.day_window(spg, day), clock.time(), step, mode, minimum)


# --- breaks: the alert path ------------------------------------------------------------------------
class Presence:
    """A PresenceEngine wired to the shift rules as AttendanceService wires it."""

    def __init__(self, b: ShiftBook, clock: FakeClock, absent_s: float = 300.0):
        cfg = AppConfig.model_validate({"presence": {"grace_seconds": 30, "absent_seconds": absent_s,
                                                     "confirm_hits": 2, "confirm_window_s": 25}})
        self.clock = clock
        self.eng = PresenceEngine(cfg.presence, clock, on_duty=b.alert_allowed, excused=b.excused_s)
        self.log: list = []

    def run(self, until: float, seen: set[str], step: float = 5.0) -> None:
        while self.clock.time() < until:
            self.eng.frame("cam1")
            for spg in seen:
                self.log += self.eng.hit(spg, "cam1")
            self.log += self.eng.tick()
            self.clock.advance(step)

    def absences(self, spg: str):
        return [t for t in self.log if t.spg_id == spg and t.to_state is State.ABSENT]


def test_absence_inside_a_break_raises_no_alert_and_break_time_does_not_count():
    clock = FakeClock(start=at(11, 0))
    p = Presence(book(), clock)
    p.run(at(11, 58), {"ana", "budi"})       # both at the counter until 11:58
    p.run(at(12, 55), set())                  # lunch (break 12:00-13:00); Budi comes back at 12:55
    assert p.absences("ana") == [] and p.absences("budi") == []
    p.run(at(14, 0), {"budi"})                # Ana does not come back
    assert p.absences("budi") == []
    (t,) = p.absences("ana")
    # 2 minutes before the break + 3 minutes after it = the 5 absent minutes: ABSENT at 13:03, with its alert
    assert t.alert is True and t.timestamp == pytest.approx(at(13, 3), abs=10)


def test_absence_alert_decided_by_the_attendance_service_honours_breaks(tmp_path):
    cfg = AppConfig.model_validate({"outlet": {"timezone": "Asia/Jakarta"},
                                    "presence": {"grace_seconds": 30, "absent_seconds": 300, "confirm_hits": 2,
                                                 "confirm_window_s": 25, "default_shift": {"thu": DAY_SHIFT}}})
    clock = FakeClock(start=at(11, 50))
    store = EventStore(tmp_path / "events.db")
    svc = AttendanceService(cfg, store, None, clock, lambda: NAMES)
    out = []

    def run(until: float, spgs: tuple[str, ...]) -> None:
        while clock.time() < until:
            faces = tuple(FaceResult((0, 0, 80, 80), (), 0.9, s, 0.8, i) for i, s in enumerate(spgs))
            out.extend(svc.on_frame_result(FrameResult("cam1", 0, clock.time(), clock.monotonic(), faces, (480, 640))))
            out.extend(svc.tick())
            clock.advance(5.0)

    run(at(12, 1), ("ana",))   # seen into the break, then away for all of it
    run(at(13, 2), ())
    assert [t for t in out if t.to_state is State.ABSENT] == []
    run(at(13, 10), ())
    assert [(t.spg_id, t.alert) for t in out if t.to_state is State.ABSENT] == [("ana", True)]
    assert [a.kind for a in store.alerts_between(at(0), at(23))] == ["absent"]
    svc.close()


def test_break_taken_is_reported_and_absence_in_a_break_is_not_late_or_absent():
    clock = FakeClock(start=at(20, 0))
    b = book()
    v = verdict(b, "ana", THU, [(at(8, 55), at(12, 10)), (at(12, 50), at(17, 0))], clock)
    assert v.break_s == pytest.approx(40 * 60)  # 12:10-12:50 of the 12:00-13:00 break
    assert v.late_s == 0 and v.absent_shift is False and v.code == f"{(at(17) - at(8, 55) - 40 * 60) / 3600:.2f}"
    assert b.in_break("ana", at(12, 30)) and not b.alert_allowed("ana", at(12, 30)) and b.alert_allowed("ana", at(13, 1))
    assert b.excused_s("ana", at(11, 0), at(14, 0)) == 3600


# --- late tolerance and late beyond N ----------------------------------------------------------------
def test_late_tolerance():
    clock = FakeClock(start=at(20, 0))
    b = book()
    on_time = verdict(b, "ana", THU, [(at(9, 4, 59), at(17, 0))], clock)
    assert on_time.late_s == 0 and on_time.code == "7.92"  # 7 h 55 min present, no L within the 5 minutes
    late = verdict(b, "ana", THU, [(at(9, 6), at(17, 0))], clock)
    assert late.late_s == pytest.approx(6 * 60) and late.code == "L" and late.absent_shift is False


def test_late_beyond_n_minutes_is_absent_for_the_day():
    b = book()
    clock = FakeClock(start=at(9, 30))
    assert verdict(b, "ana", THU, [], clock).code == ""  # 30 minutes late so far: not decided yet
    clock.advance(31 * 60)  # 10:01, still not seen: beyond the 60 minutes
    v = verdict(b, "ana", THU, [], clock)
    assert v.code == "A" and v.absent_shift is True and v.late_absent
    clock.set_wall(at(20, 0))
    v = verdict(b, "ana", THU, [(at(10, 0, 30), at(17, 0))], clock)  # came at 10:00:30: 60.5 minutes late
    assert v.code == "A" and v.absent_shift is True and v.present_s == pytest.approx(at(17) - at(10, 0, 30))
    v = verdict(b, "ana", THU, [(at(10, 0), at(17, 0))], clock)  # exactly 60 minutes: late, not absent
    assert v.code == "L" and v.absent_shift is False


# --- overtime -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("minutes", "step", "mode", "minimum", "counted"), [
    (52, 15, "down", 0, 45), (52, 15, "up", 0, 60), (52, 15, "nearest", 0, 45), (53, 15, "nearest", 0, 60),
    (14, 15, "down", 0, 0), (45, 15, "down", 0, 45), (29, 15, "down", 30, 0), (31, 30, "down", 30, 30),
    (0, 15, "up", 0, 0),
])
def test_overtime_rounding(minutes, step, mode, minimum, counted):
    assert round_overtime(minutes * 60.0, step, mode, minimum) == counted * 60.0


def test_overtime_after_the_shift_end_with_configured_rounding():
    clock = FakeClock(start=at(23, 0))
    b = book()
    ivs = [(at(9, 0), at(17, 52))]
    assert verdict(b, "ana", THU, ivs, clock).overtime_raw_s == pytest.approx(52 * 60)
    assert verdict(b, "ana", THU, ivs, clock).overtime_s == 45 * 60
    assert verdict(b, "ana", THU, ivs, clock, step=30, mode="up").overtime_s == 60 * 60
    assert verdict(b, "ana", THU, ivs, clock, minimum=60).overtime_s == 0


# --- holidays and days off --------------------------------------------------------------------------
def test_holiday_and_day_off_per_outlet_and_per_spg():
    cal = [CalendarEntry(date=THU, kind="holiday", name="Tahun Baru"),
           CalendarEntry(date=THU + timedelta(days=7), kind="off", spg_id="ana"),
           CalendarEntry(date=THU + timedelta(days=7), kind="holiday", outlet_id="outlet_02", name="elsewhere")]
    b = ShiftBook({"thu": DAY_SHIFT}, None, "Asia/Jakarta", DayCalendar(cal, "outlet_01"))
    clock = FakeClock(start=at(20, 0, day=THU + timedelta(days=7)))
    assert b.day("budi", THU) == ("holiday", None, "Tahun Baru")
    assert not b.on_duty("budi", at(10, 0)) and b.status("budi", at(10, 0)) == "off duty"
    next_thu = THU + timedelta(days=7)
    assert b.day("ana", next_thu)[0] == "off" and b.day("budi", next_thu)[0] == "work"  # outlet_02's holiday ignored
    assert verdict(b, "budi", THU, [], clock).code == "HOL"
    assert verdict(b, "ana", next_thu, [], clock).code == "OFF"
    assert verdict(b, "ana", THU, [(at(10), at(12))], clock).code == "H"  # worked on the holiday
    assert verdict(b, "budi", next_thu, [], clock).code == "A"
    # no alert on a holiday: the presence engine's absence carries none
    clock = FakeClock(start=at(9, 0))
    p = Presence(b, clock)
    p.run(at(9, 5), {"budi"})
    p.run(at(9, 30), set())
    assert [t.alert for t in p.absences("budi")] == [False]


def test_one_day_shift_from_the_calendar_replaces_the_weekly_one():
    cal = [CalendarEntry(date=THU, kind="shift", spg_id="ana", start="13:00", end="21:00")]
    b = ShiftBook({"thu": DAY_SHIFT}, None, "Asia/Jakarta", DayCalendar(cal))
    assert b.span_for("ana", THU).label == "13:00-21:00" and b.span_for("budi", THU).label == "09:00-17:00"
    assert not b.on_duty("ana", at(10, 0)) and b.on_duty("ana", at(20, 0))
    clock = FakeClock(start=at(23, 0))
    assert verdict(b, "ana", THU, [(at(13, 3), at(21, 0))], clock).code == "7.95"  # within the 5 minutes


# --- overnight ----------------------------------------------------------------------------------------
def test_overnight_shift_is_attributed_to_the_day_it_starts():
    night = {"start": "22:00", "end": "06:00", "breaks": [{"start": "02:00", "end": "02:30"}]}
    b = book({"thu": night, "fri": night})
    fri = THU + timedelta(days=1)
    clock = FakeClock(start=at(21, 0))
    p = Presence(b, clock)
    p.run(at(2, 1, day=fri), {"ana"})        # Thursday 21:00 to Friday 02:01, across midnight
    p.run(at(2, 29, day=fri), set())          # the night break
    p.run(at(6, 40, day=fri), {"ana"})        # to 06:40: 40 minutes overtime
    assert p.absences("ana") == []
    assert b.on_duty("ana", at(5, 0, day=fri)) and b.span_at("ana", at(5, 0, day=fri)).day == THU
    ivs = [(at(21, 0), at(2, 1, day=fri)), (at(2, 29, day=fri), at(6, 40, day=fri))]
    clock.set_wall(at(12, 0, day=fri))
    thu = verdict(b, "ana", THU, ivs, clock)
    assert thu.present_s == pytest.approx(ivs[0][1] - ivs[0][0] + ivs[1][1] - ivs[1][0])  # all of the night
    assert thu.late_s == 0 and thu.break_s == pytest.approx(28 * 60) and thu.overtime_s == 30 * 60
    assert thu.left_early_s == 0 and thu.absent_shift is False
    frid = verdict(b, "ana", fri, ivs, clock)
    assert frid.present_s == 0 and frid.code == ""  # Friday's own night shift has not started yet
    w0, w1 = b.day_window("ana", fri)
    assert w0 == (at(6, 0, day=fri) + at(22, 0, day=fri)) / 2 and w1 > at(6, 0, day=fri + timedelta(days=1))


# --- time zones -----------------------------------------------------------------------------------------
def test_outlets_in_jakarta_and_makassar_read_the_same_moment_in_their_own_time():
    """The same arrival (02:05 UTC) is 09:05 in Jakarta (UTC+7) and 10:05 in Makassar (UTC+8)."""
    arrival = datetime(2026, 1, 1, 2, 5, tzinfo=ZoneInfo("UTC")).timestamp()
    leave = datetime(2026, 1, 1, 10, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    shift = {"thu": {"start": "09:00", "end": "17:00", "late_tolerance_min": 10, "absent_if_late_min": 120}}
    jkt, mks = book(shift, tz="Asia/Jakarta"), book(shift, tz="Asia/Makassar")
    clock = FakeClock(start=arrival)
    assert jkt.on_duty("ana", clock.time()) and mks.on_duty("ana", clock.time())
    clock.set_wall(at(23, 0, tz=MKS))
    vj, vm = verdict(jkt, "ana", THU, [(arrival, leave)], clock), verdict(mks, "ana", THU, [(arrival, leave)], clock)
    assert vj.late_s == 0 and vj.code != "L"  # 5 minutes: within the tolerance
    assert vm.late_s == pytest.approx(65 * 60) and vm.code == "L"
    # 10:30 UTC = 17:30 Jakarta (30 min overtime), 18:30 Makassar (1 h 30)
    assert vj.overtime_s == 30 * 60 and vm.overtime_s == 90 * 60
    # at 16:30 UTC it is 23:30 in Jakarta (Thursday) but 00:30 Friday in Makassar
    late = datetime(2026, 1, 1, 16, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert jkt.day_window("ana", THU)[0] <= late < jkt.day_window("ana", THU)[1]
    assert not mks.day_window("ana", THU)[0] <= late < mks.day_window("ana", THU)[1]
    assert jkt.day_window("ana", THU)[0] - mks.day_window("ana", THU)[0] == 3600
