"""AttendanceService: frame results -> presence -> events DB -> alerts; restarts; killed processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import SecretStr

from core.alert_outbox import AlertOutbox
from core.attendance import AttendanceService
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.messages import FaceResult, FrameResult
from core.telegram import TelegramClient
from tests.fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parent.parent
NAMES = {"ana": "Ana <Putri>", "budi": "Budi"}


def make_cfg(**presence):
    p = {"grace_seconds": 5, "absent_seconds": 30, "confirm_hits": 2, "confirm_window_s": 3, "hit_log_interval_s": 5}
    p.update(presence)
    return AppConfig.model_validate({"outlet": {"name": "Toko Maju", "timezone": "Asia/Jakarta"}, "presence": p,
                                     "telegram": {"enabled": True}})


def frame(clock, cam, *spgs):
    faces = tuple(FaceResult((100.0 + 60 * i, 100.0, 160.0 + 60 * i, 170.0), (), 0.9, s, 0.8, i) for i, s in enumerate(spgs))
    return FrameResult(cam, 0, clock.time(), clock.monotonic(), faces, (480, 640))


def feed(svc, clock, seconds, cam="cam1", spgs=("ana",), fps=1.0, snapshot=None):
    out = []
    steps = int(round(seconds * fps))
    for _ in range(steps):
        out += svc.on_frame_result(frame(clock, cam, *spgs), snapshot)
        out += svc.tick()
        clock.advance(1.0 / fps)
    return out


def idle(svc, clock, seconds):
    """Nobody in view for ``seconds``: the cameras keep sending frames (1 fps) in which no SPG is seen."""
    out = []
    for _ in range(int(seconds)):
        clock.advance(1.0)
        for cam in svc.engine.watched_cameras():
            out += svc.on_frame_result(frame(clock, cam))
        out += svc.tick()
    return out


@pytest.fixture
def server():
    with FakeTelegram() as srv:
        yield srv


def outbox_for(server, store, clock):
    client = TelegramClient(server.api_base, SecretStr(server.token), SecretStr("42"), timeout_s=5)
    return AlertOutbox(client, store, clock, start=False)


def test_absence_alert_is_a_photo_naming_spg_outlet_time_and_camera(server, tmp_path):
    clock = FakeClock(start=datetime(2026, 1, 1, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp())
    store = EventStore(tmp_path / "events.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    img = np.full((480, 640, 3), 127, np.uint8)
    out = feed(svc, clock, 10, cam="cam_entrance", snapshot=img)
    assert [(t.from_state.value, t.to_state.value) for t in out] == [("not_seen", "present")]
    out = idle(svc, clock, 40)
    assert [t.to_state.value for t in out] == ["grace", "absent"] and out[-1].alert
    ob.deliver_due()
    (msg,) = server.received
    assert msg.method == "sendPhoto" and msg.photo[:2] == b"\xff\xd8"
    assert "Ana &lt;Putri&gt;" in msg.text and "Toko Maju" in msg.text and "cam_entrance" in msg.text
    assert "10:00:09" in msg.text  # last seen, outlet time
    snap = {s.spg_id: s for s in svc.snapshot()}
    assert snap["ana"].state == "absent" and snap["budi"].state == "not_seen"
    assert snap["ana"].present_today_s == pytest.approx(9.0)
    assert snap["ana"].last_camera == "cam_entrance"
    svc.close()


def test_empty_gallery_and_unmatched_faces(tmp_path):
    clock = FakeClock()
    svc = AttendanceService(make_cfg(), EventStore(tmp_path / "e.db"), None, clock, dict)
    r = FrameResult("cam1", 0, clock.time(), clock.monotonic(),
                    (FaceResult((0, 0, 50, 50), (), 0.9, None, 0.2, 1),), (480, 640))
    for _ in range(20):
        assert svc.on_frame_result(r) == []
        clock.advance(1)
        assert svc.tick() == []
    assert svc.snapshot() == []
    svc.close()


def test_hits_are_rate_limited_per_spg_per_camera(tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    svc = AttendanceService(make_cfg(hit_log_interval_s=5), store, None, clock, lambda: NAMES)
    feed(svc, clock, 20, fps=5.0)  # 100 hits on cam1
    feed(svc, clock, 10, cam="cam2", fps=5.0)
    svc.close()
    store = EventStore(tmp_path / "e.db")
    hits = store.hits_between(0, 1e12)
    assert len([h for h in hits if h[2] == "cam1"]) == 4 and len([h for h in hits if h[2] == "cam2"]) == 2
    store.close()


def test_all_absent_at_once_one_alert_each_and_reentry(server, tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(notify_return=True), store, ob, clock, lambda: NAMES)
    feed(svc, clock, 5, spgs=("ana", "budi"))
    out = idle(svc, clock, 60)
    assert sorted(t.spg_id for t in out if t.alert) == ["ana", "budi"]
    ob.deliver_due()
    assert len(server.received) == 2
    feed(svc, clock, 5, spgs=("ana",), cam="cam2")  # Ana comes back
    ob.deliver_due()
    assert "back" in server.received[-1].text and "cam2" in server.received[-1].text
    out = idle(svc, clock, 60)
    assert [t.spg_id for t in out if t.alert] == ["ana"]  # a new alert after re-entry; Budi not repeated
    svc.close()


def test_restart_mid_shift_resumes_presence_no_alert_lost_or_twice(server, tmp_path):
    db = tmp_path / "e.db"
    clock = FakeClock()
    store = EventStore(db)
    svc = AttendanceService(make_cfg(), store, outbox_for(server, store, clock), clock, lambda: NAMES)
    feed(svc, clock, 5, spgs=("ana", "budi"))
    idle(svc, clock, 10)  # 11 s without hits (last hit 1 s before the idle), then the app is closed
    svc.close()
    clock.advance(600)  # 10 minutes of downtime: not counted as absence
    store = EventStore(db)
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    snap = {s.spg_id: s.state for s in svc.snapshot()}
    assert snap == {"ana": "grace", "budi": "grace"}
    out = idle(svc, clock, 18)
    assert [t for t in out if t.alert] == []
    out = idle(svc, clock, 2)  # 11 + 19 s idle = absent_seconds 30
    assert sorted(t.spg_id for t in out if t.alert) == ["ana", "budi"]
    ob.deliver_due()
    svc.close()
    # and a third start: nothing re-sent, nothing new
    store = EventStore(db)
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    assert idle(svc, clock, 120) == []
    ob.deliver_due()
    assert len(server.received) == 2
    svc.close()


def test_killed_between_transition_and_delivery_delivered_after_restart_once(server, tmp_path):
    db = tmp_path / "e.db"
    clock = FakeClock()
    store = EventStore(db)
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    feed(svc, clock, 5)
    out = idle(svc, clock, 40)
    assert len([t for t in out if t.alert]) == 1
    # "killed": the outbox never ran, nothing closed; the connection just goes away
    store._conn.close()
    store = EventStore(db)
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    assert ob.deliver_due() == 1
    assert ob.deliver_due() == 0
    assert idle(svc, clock, 60) == []  # still ABSENT after the restart: no second alert
    assert len(server.received) == 1 and "Ana" in server.received[0].text
    svc.close()


KILLED_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from pydantic import SecretStr
    from core.alert_outbox import AlertOutbox
    from core.attendance import AttendanceService
    from core.clock import FakeClock
    from core.config import AppConfig
    from core.events_db import EventStore
    from core.messages import FaceResult, FrameResult
    from core.telegram import TelegramClient
    cfg = AppConfig.model_validate({{"presence": {{"grace_seconds": 5, "absent_seconds": 30}}, "telegram": {{"enabled": True}}}})
    clock = FakeClock()
    store = EventStore({db!r})
    client = TelegramClient("http://127.0.0.1:9", SecretStr("123456:abcdefghijklmnopqrstuvwxyz0123"), SecretStr("42"), timeout_s=1)
    ob = AlertOutbox(client, store, clock, start=False)   # Telegram unreachable: nothing delivered
    svc = AttendanceService(cfg, store, ob, clock, lambda: {{"ana": "Ana"}})
    for _ in range(5):
        svc.on_frame_result(FrameResult("cam1", 0, clock.time(), clock.monotonic(),
            (FaceResult((0, 0, 50, 50), (), 0.9, "ana", 0.8, 1),), (480, 640)))
        clock.advance(1)
    for _ in range(40):
        clock.advance(1)
        svc.on_frame_result(FrameResult("cam1", 0, clock.time(), clock.monotonic(), (), (480, 640)))
        svc.tick()
    ob.deliver_due()
    print("QUEUED", flush=True)
    time.sleep(120)
    """
)


def test_real_process_killed_after_the_transition_delivers_after_restart_once(server, tmp_path):
    db = tmp_path / "e.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT.format(repo=str(REPO), db=str(db))],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "QUEUED"
    finally:
        proc.kill()  # SIGKILL / TerminateProcess: no cleanup at all
        proc.wait(10)
    clock = FakeClock(start=1_767_225_700.0)
    store = EventStore(db)
    pending = store.pending_alerts()
    assert len(pending) == 1 and pending[0].attempts == 1  # tried once while Telegram was unreachable
    ob = outbox_for(server, store, clock)
    clock.advance(60)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: {"ana": "Ana"})
    assert ob.deliver_due() == 1
    assert idle(svc, clock, 60) == []
    assert ob.deliver_due() == 0
    assert [r.text.count("Ana") for r in server.received] == [1]
    svc.close()


def test_outside_shift_no_alert_and_shift_status(server, tmp_path):
    tz = ZoneInfo("Asia/Jakarta")
    clock = FakeClock(start=datetime(2026, 1, 1, 7, 0, tzinfo=tz).timestamp())  # Thursday 07:00, before the shift
    cfg = make_cfg(default_shift={"thu": {"start": "09:00", "end": "17:00"}})
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(cfg, store, ob, clock, lambda: NAMES)
    feed(svc, clock, 5)
    out = idle(svc, clock, 60)
    assert [t.alert for t in out if t.to_state.value == "absent"] == [False]
    assert {s.shift_status for s in svc.snapshot()} == {"off duty"}
    clock.advance(2 * 3600)  # 09:01: on duty
    svc.tick()
    feed(svc, clock, 5)
    out = idle(svc, clock, 60)
    assert [t.alert for t in out if t.to_state.value == "absent"] == [True]
    assert {s.shift_status for s in svc.snapshot()} == {"on duty"}
    ob.deliver_due()
    assert len(server.received) == 1
    svc.close()


def test_daily_summary_once_at_the_configured_time(server, tmp_path):
    tz = ZoneInfo("Asia/Jakarta")
    clock = FakeClock(start=datetime(2026, 1, 1, 20, 59, 0, tzinfo=tz).timestamp())
    cfg = make_cfg()
    cfg.telegram.daily_summary_time = datetime(2026, 1, 1, 21, 0).time()
    cfg.outlet.language = "id"
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(cfg, store, ob, clock, lambda: NAMES)
    feed(svc, clock, 10)
    ob.deliver_due()
    assert server.received == []
    idle(svc, clock, 120)
    ob.deliver_due()
    assert len([r for r in server.received if "kehadiran" in r.text]) == 1
    summary = next(r for r in server.received if "kehadiran" in r.text).text
    assert "Ana &lt;Putri&gt;: hadir 9s" in summary
    svc.close()


def test_time_time_callable_is_accepted_as_clock(tmp_path):
    import time

    svc = AttendanceService(make_cfg(), EventStore(tmp_path / "e.db"), None, time.time, lambda: NAMES)
    assert len(svc.snapshot()) == 2
    svc.close()


def test_snapshot_callable_is_read_only_when_a_crop_is_needed(server, tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    calls = []

    def read():
        calls.append(1)
        return np.zeros((240, 320, 3), np.uint8)  # stored at half size: boxes are scaled

    nobody = FrameResult("cam1", 0, clock.time(), clock.monotonic(), (), (480, 640))
    for _ in range(10):
        svc.on_frame_result(nobody, read)
    assert calls == []
    feed(svc, clock, 5, fps=5.0, snapshot=read)  # 25 frames with Ana, 5 s
    assert len(calls) == 5  # once a second
    idle(svc, clock, 40)
    ob.deliver_due()
    assert server.received[0].method == "sendPhoto"
    svc.close()


def test_locked_database_keeps_transitions_in_memory_then_stores_them_in_order(server, tmp_path):
    import sqlite3

    db = tmp_path / "e.db"
    clock = FakeClock()
    store = EventStore(db, timeout_s=0.05)
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    feed(svc, clock, 5)
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds the file
    out = idle(svc, clock, 40)  # Ana leaves: no exception reaches the router
    assert [t.to_state.value for t in out] == ["grace", "absent"] and out[-1].alert
    assert svc.store_error and str(db) in svc.store_error and "locked" in svc.store_error
    feed(svc, clock, 5)  # and comes back, still locked
    assert svc.snapshot()[0].state == "present"
    blocker.execute("ROLLBACK")
    blocker.close()
    idle(svc, clock, 8)  # the retry stores everything
    assert svc.store_error is None
    rows = store.transitions_between(0, 1e12, ["ana"])
    assert [(r.from_state, r.to_state) for r in rows] == [("not_seen", "present"), ("present", "grace"),
                                                          ("grace", "absent"), ("absent", "present"), ("present", "grace")]
    ivs = store.intervals_between(0, 1e12, ["ana"])
    assert len(ivs) == 2 and ivs[0].closed and not ivs[1].closed
    assert ivs[0].last_seen == rows[2].last_seen
    assert ob.deliver_due() == 1 and len(server.received) == 1
    svc.close()


def test_spg_removed_from_the_gallery_gets_no_absent_alert(tmp_path):
    clock = FakeClock()
    names = dict(NAMES)
    svc = AttendanceService(make_cfg(), EventStore(tmp_path / "e.db"), None, clock, lambda: dict(names))
    feed(svc, clock, 5, spgs=("ana", "budi"))
    del names["budi"]
    svc.refresh_people()  # the console calls this when the gallery changes
    out = idle(svc, clock, 60)
    assert [t.spg_id for t in out if t.alert] == ["ana"]
    assert [s.spg_id for s in svc.snapshot()] == ["ana"]
    svc.close()


@pytest.mark.parametrize("gap", ["suspend_windows", "suspend_linux", "ntp_forward", "restart"])
def test_downtime_counts_neither_as_present_nor_as_an_absence(tmp_path, gap):
    from core.reports import build_report

    db = tmp_path / "e.db"
    clock = FakeClock(start=datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp())
    svc = AttendanceService(make_cfg(), EventStore(db), None, clock, lambda: NAMES)
    feed(svc, clock, 20)  # present 09:00:00 - 09:00:19
    if gap == "suspend_windows":
        clock.suspend(3600, monotonic_counts_sleep=True)
    elif gap == "suspend_linux":
        clock.suspend(3600, monotonic_counts_sleep=False)
    elif gap == "ntp_forward":
        clock.jump_wall(3600)
    else:
        svc.close()
        clock.advance(3600)
        svc = AttendanceService(make_cfg(), EventStore(db), None, clock, lambda: NAMES)
    out = feed(svc, clock, 20)  # still (again) there for 20 s after the gap
    out += idle(svc, clock, 10)
    assert [t for t in out if t.to_state.value == "absent"] == []
    assert svc.snapshot()[0].state == "grace"
    assert svc.snapshot()[0].present_today_s == pytest.approx(19 + 19)
    svc.close()
    store = EventStore(db)
    (row,) = list(build_report(store, make_cfg(), date_of(clock), date_of(clock), ["ana"], NAMES, now=clock.time()))
    assert row.present_s == pytest.approx(38) and row.absences == 0
    store.close()


def date_of(clock):
    return datetime.fromtimestamp(clock.time(), ZoneInfo("Asia/Jakarta")).date()


def test_telegram_down_then_up_with_the_delivery_thread(server, tmp_path):
    import time

    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    client = TelegramClient(server.api_base, SecretStr(server.token), SecretStr("42"), timeout_s=2)
    ob = AlertOutbox(client, store, None, base_backoff_s=0.2, max_backoff_s=0.5, poll_s=0.1)  # real thread, real time
    names = {"ana": "Ana", "budi": "Budi", "citra": "Citra"}
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: names)
    server.mode = "down"
    for spg in ("ana", "budi", "citra"):  # they leave one after the other
        feed(svc, clock, 3, spgs=(spg,))
        idle(svc, clock, 10)
    idle(svc, clock, 40)
    deadline = time.monotonic() + 5
    while server.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.received == [] and len(store.pending_alerts()) == 3
    server.mode = "ok"
    deadline = time.monotonic() + 15
    while len(server.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a few more delivery passes: nothing is sent twice
    assert [m.text.split("</b>")[0].split("<b>")[1] for m in server.received] == ["Ana", "Budi", "Citra"]
    assert store.pending_alerts() == []
    svc.close()




def test_property_across_restarts_no_alert_lost_or_twice_and_states_chain():
    import sqlite3
    import tempfile

    from hypothesis import HealthCheck, given, settings, strategies as st

    from core.presence import ALLOWED, State

    action = st.one_of(
        st.tuples(st.just("hit"), st.sampled_from(["ana", "budi"]), st.floats(0.5, 4)),
        st.tuples(st.just("idle"), st.just(""), st.floats(1, 40)),
        st.tuples(st.just("restart"), st.just(""), st.floats(0, 900)),
    )

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(action, max_size=30))
    def run(actions):
        with tempfile.TemporaryDirectory() as d:
            db = Path(d) / "e.db"
            clock = FakeClock()
            svc = AttendanceService(make_cfg(), EventStore(db), None, clock, lambda: NAMES)
            for kind, spg, dt in actions:
                if kind == "hit":
                    svc.on_frame_result(frame(clock, "cam1", spg))
                    clock.advance(dt)
                    svc.on_frame_result(frame(clock, "cam2", spg))
                elif kind == "idle":
                    for _ in range(int(dt)):
                        clock.advance(1)
                        svc.tick()
                else:
                    if dt > 450:  # sometimes a crash: nothing closed, nothing flushed
                        svc.store._conn.close()
                    else:
                        svc.close()
                    clock.advance(dt)
                    svc = AttendanceService(make_cfg(), EventStore(db), None, clock, lambda: NAMES)
                    svc.tick()
            svc.close()
            c = sqlite3.connect(str(db))
            trans = c.execute("SELECT id, spg_id, from_state, to_state, alert FROM transitions ORDER BY id").fetchall()
            alerts = c.execute("SELECT transition_id FROM alerts WHERE kind = 'absent'").fetchall()
            c.close()
            last: dict[str, str] = {}
            for _, spg, frm, to, _ in trans:
                assert (State(frm), State(to)) in ALLOWED
                assert last.get(spg, "not_seen") == frm  # every stored transition chains on the previous one
                last[spg] = to
            to_absent = [t[0] for t in trans if t[3] == "absent" and t[2] in ("present", "grace")]
            assert sorted(a[0] for a in alerts) == to_absent  # exactly one alert per absence, none lost

    run()


# --- "no view" (issue 11 item 3): what the pipeline cannot see is not absence ----------------------------
def watch(svc, clock, seconds, cams=("cam1",), spgs=(), live=None, inference_ok=True, fps=2.0):
    """A router loop: frames of ``cams`` (``spgs`` seen on cams[0]), the health report, a tick."""
    out = []
    for _ in range(int(round(seconds * fps))):
        for i, cam in enumerate(cams):
            out += svc.on_frame_result(frame(clock, cam, *(spgs if i == 0 else ())))
        svc.on_pipeline_health(live if live is not None else dict.fromkeys(("cam1", "cam2"), True), inference_ok)
        out += svc.tick()
        clock.advance(1.0 / fps)
    return out


def test_inference_down_longer_than_absent_seconds_gives_no_absent_alert(server, tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    watch(svc, clock, 5, spgs=("ana",))
    out = watch(svc, clock, 90, cams=(), inference_ok=False)  # the server is frozen: no frame at all
    assert out == []
    assert {s.spg_id: (s.state, s.no_view) for s in svc.snapshot()}["ana"] == ("present", True)
    out = watch(svc, clock, 5, spgs=("ana",))  # restarted; Ana never left
    assert out == [] and not svc.snapshot()[0].no_view
    ob.deliver_due()
    assert server.received == []
    svc.close()


def test_camera_offline_no_spg_absence_one_camera_alert_and_its_recovery(server, tmp_path):
    from core.reports import build_report

    clock = FakeClock(start=datetime(2026, 1, 1, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp())
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    watch(svc, clock, 10, cams=("cam1", "cam2"), spgs=("ana", "budi"))
    down = {"cam1": False, "cam2": True}
    out = watch(svc, clock, 120, cams=("cam2",), live=down)  # cam1 offline for 2 minutes
    assert out == []
    snap = {s.spg_id: s for s in svc.snapshot()}
    assert snap["ana"].state == "present" and snap["ana"].no_view and snap["budi"].no_view
    out = watch(svc, clock, 10, cams=("cam1", "cam2"), spgs=("ana",))  # back; Ana still there, Budi gone
    assert [(t.spg_id, t.to_state.value) for t in out] == [("budi", "grace")]  # counted from the recovery
    out = watch(svc, clock, 40, cams=("cam1", "cam2"), spgs=("ana",))
    assert [(t.spg_id, t.to_state.value) for t in out if t.alert] == [("budi", "absent")]  # after 30 s in view
    ob.deliver_due()
    texts = [m.text for m in server.received]
    assert len(texts) == 3, texts
    assert "cam1" in texts[0] and "offline since 2026-01-01 10:00:1" in texts[0]
    assert "cam1" in texts[1] and "back online" in texts[1] and "2m 00s offline" in texts[1]
    assert "Budi" in texts[2] and "ABSENT" in texts[2]
    svc.close()
    store = EventStore(tmp_path / "e.db")
    day = datetime.fromtimestamp(clock.time(), ZoneInfo("Asia/Jakarta")).date()
    rows = {r.spg_id: r for r in build_report(store, make_cfg(), day, day, None, NAMES, now=clock.time())}
    assert rows["ana"].no_view_s == pytest.approx(120, abs=2) and rows["ana"].absences == 0
    assert rows["ana"].present_s == pytest.approx(10 + 50, abs=2)
    store.close()


def test_camera_blink_shorter_than_absent_seconds_raises_no_camera_alert(server, tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    watch(svc, clock, 5, spgs=("ana",))
    watch(svc, clock, 10, cams=(), live={"cam1": False})
    watch(svc, clock, 5, spgs=("ana",), live={"cam1": True})
    ob.deliver_due()
    assert server.received == []
    svc.close()


def test_a_video_file_that_ended_is_no_view_but_no_camera_alert(server, tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "e.db")
    ob = outbox_for(server, store, clock)
    svc = AttendanceService(make_cfg(), store, ob, clock, lambda: NAMES)
    watch(svc, clock, 5, spgs=("ana",))
    for _ in range(120):  # the file played to its end: the camera is stopped, not broken
        svc.on_pipeline_health({"cam1": False}, True, ended={"cam1"})
        assert svc.tick() == []
        clock.advance(1.0)
    assert svc.snapshot()[0].no_view
    ob.deliver_due()
    assert server.received == []
    svc.close()


class _SlowDisk:
    """An events store whose every write (at most one a second) waits 2 s for a lock another program holds."""

    def __init__(self, store, clock):
        self._store, self._clock, self._last = store, clock, None

    def flush_due(self):
        now = self._clock.monotonic()
        if self._last is None or now - self._last >= 1.0:
            self._clock.advance(2.0)
            self._last = self._clock.monotonic()
        self._store.flush_due()

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_database_slow_to_write_does_not_flap_a_visible_spg(tmp_path):
    clock = FakeClock()
    svc = AttendanceService(make_cfg(grace_seconds=2, absent_seconds=6), _SlowDisk(EventStore(tmp_path / "e.db"), clock),
                            None, clock, lambda: NAMES)
    out = []
    next_capture = clock.time()
    ana = (FaceResult((100.0, 100.0, 160.0, 170.0), (), 0.9, "ana", 0.8, 1),)
    for _ in range(60):  # the camera captures at 5 fps; each poll gets what was captured while the router waited
        clock.advance(0.1)
        batch = []
        while next_capture <= clock.time():
            batch.append(FrameResult("cam1", 0, next_capture, 0.0, ana, (480, 640)))
            next_capture += 0.2
        for r in batch:
            out += svc.on_frame_result(r)
        out += svc.tick()
    assert [(t.from_state.value, t.to_state.value) for t in out] == [("not_seen", "present")]
    svc.close()
