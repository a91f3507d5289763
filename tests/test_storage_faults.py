"""The events database on a full disk and a read-only file: the declared store error, never a raw sqlite3
error; monitoring goes on and every transition is stored once, in order, when space returns."""

from __future__ import annotations

import logging
import sqlite3
import subprocess

import pytest

from core.attendance import AttendanceService
from core.clock import FakeClock
from core.events_backend import EventStoreError, EventStoreFull, EventStoreReadOnly, StateRow
from core.events_db import EventStore
from core.presence import State, Transition
from tests.test_attendance import NAMES, feed, idle, make_cfg


def _t(ts: float) -> Transition:
    return Transition("ana", State.PRESENT, State.ABSENT, ts, "cam1", ts - 60, True)


def _state(ts: float) -> StateRow:
    return StateRow("ana", "absent", ts, ts - 60, "cam1", None)


def test_full_disk_mid_run_commit_raises_the_store_error_and_writes_again_when_freed(small_disk):
    db = small_disk.path / "events.db"
    store = EventStore(db)
    store.record_transition(_t(1.0), _state(1.0), None, ("absent", "Ana is absent", b"jpg" * 100, "pending"))
    small_disk.fill()
    for i in range(3):  # the COMMIT fails: the declared error, never sqlite3.OperationalError
        store.log_hit(2.0 + i, "ana", "cam1", 0.7)
        with pytest.raises(EventStoreFull) as err:
            store.record_transition(_t(2.0 + i), _state(2.0 + i), None, ("absent", "again", b"jpg" * 100, "pending"))
        assert not isinstance(err.value, sqlite3.Error)
        assert str(db) in str(err.value) and "disk is full" in str(err.value) and "Free space" in str(err.value)
    small_disk.free()
    store.record_transition(_t(9.0), _state(9.0), None, None)
    assert [r.ts for r in store.transitions_between(0, 100)] == [1.0, 9.0]  # the failed ones left nothing
    assert [h[0] for h in store.hits_between(0, 100)] == [2.0, 3.0, 4.0]  # buffered hits were kept
    assert store.integrity() == "ok"
    store.close()


def test_full_disk_keeps_monitoring_and_stores_every_transition_once_in_order_when_space_returns(small_disk):
    clock = FakeClock()
    store = EventStore(small_disk.path / "events.db")
    svc = AttendanceService(make_cfg(), store, None, clock, lambda: NAMES)
    feed(svc, clock, 5)
    assert svc.store_ok
    small_disk.fill()
    out = idle(svc, clock, 40)  # Ana leaves while nothing can be written: no exception reaches the router
    assert [t.to_state.value for t in out] == ["grace", "absent"]
    assert not svc.store_ok and svc.unsaved_count == 2
    assert svc.store_error is not None and "disk is full" in svc.store_error
    out = feed(svc, clock, 5)  # and comes back, disk still full
    assert [t.to_state.value for t in out] == ["present"]
    assert {s.spg_id: s.state for s in svc.snapshot()}["ana"] == "present"
    small_disk.free()
    idle(svc, clock, 8)  # the retry stores everything
    assert svc.store_ok and svc.store_error is None
    rows = store.transitions_between(0, 1e12, ["ana"])
    assert [(r.from_state, r.to_state) for r in rows] == [("not_seen", "present"), ("present", "grace"),
                                                          ("grace", "absent"), ("absent", "present"),
                                                          ("present", "grace")]
    ivs = store.intervals_between(0, 1e12, ["ana"])
    assert len(ivs) == 2 and ivs[0].closed and not ivs[1].closed
    assert store.integrity() == "ok"
    svc.close()


@pytest.mark.parametrize("leave", [0, 48 * 1024], ids=["no-byte-left", "48k-left"])
def test_full_disk_at_start_says_the_disk_is_full(small_disk, leave):
    small_disk.fill(leave=leave)
    with pytest.raises(EventStoreFull) as err:
        EventStore(small_disk.path / "events.db")
    text = str(err.value)
    assert "disk is full" in text and "cannot rollback" not in text and "no transaction" not in text
    small_disk.free()
    store = EventStore(small_disk.path / "events.db")  # and starts once there is room
    assert store.integrity() == "ok"
    store.close()


def test_read_only_events_db_at_shutdown_is_the_store_error_with_a_clear_message(tmp_path, caplog):
    clock = FakeClock()
    db = tmp_path / "events.db"
    store = EventStore(db)
    svc = AttendanceService(make_cfg(), store, None, clock, lambda: NAMES)
    feed(svc, clock, 5)
    store.log_hit(clock.time(), "ana", "cam1", 0.8)
    assert store._conn is not None
    store._conn.execute("PRAGMA query_only=ON")  # injected: the file became read-only under us
    with caplog.at_level(logging.ERROR):
        svc.close()  # no exception at shutdown
    assert "cannot be written" in caplog.text and "read-only" in caplog.text and str(db) in caplog.text
    assert svc.store_error is not None and "read-only" in svc.store_error

    store = EventStore(db)
    store.log_hit(1.0, "ana", "cam1", 0.8)
    assert store._conn is not None
    store._conn.execute("PRAGMA query_only=ON")
    with pytest.raises(EventStoreReadOnly, match="1 sighting"):
        store.close()
    assert store._conn is None  # closed all the same


def test_read_only_data_folder_at_start_names_the_file_and_what_to_do(small_disk):
    if not small_disk.mounted:
        pytest.skip("needs a real read-only mount (root)")
    db = small_disk.path / "events.db"
    EventStore(db).close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk.path)], check=True)
    with pytest.raises(EventStoreError) as err:
        EventStore(db)
    assert isinstance(err.value, EventStoreReadOnly)
    assert str(db) in str(err.value) and "--data-dir" in str(err.value)


def test_alert_delivered_while_the_disk_is_full_is_sent_once_and_marked_when_space_returns(small_disk):
    from pydantic import SecretStr

    from core.alert_outbox import AlertOutbox
    from core.telegram import TelegramClient
    from tests.fake_telegram import FakeTelegram

    clock = FakeClock()
    store = EventStore(small_disk.path / "events.db")
    with FakeTelegram() as server:
        client = TelegramClient(server.api_base, SecretStr(server.token), SecretStr("42"), timeout_s=5)
        ob = AlertOutbox(client, store, clock, start=False)
        store.add_alert(clock.time(), "ana", "absent", "Ana is absent")
        small_disk.fill()
        assert ob.deliver_due() == 1  # Telegram took it; the "sent" mark cannot be written
        for _ in range(3):
            clock.advance(5)
            ob.deliver_due()
        assert [r.text for r in server.received] == ["Ana is absent"]  # never sent twice
        small_disk.free()
        clock.advance(1)
        ob.deliver_due()
        assert store.pending_alerts() == [] and len(server.received) == 1
        (row,) = store.alerts_between(0, 1e12)
        assert row.status == "sent"
    store.close()


def test_headless_run_keeps_going_on_a_full_disk_and_recovers_when_space_returns(small_disk, tmp_path):
    """A real ``app.py run --headless`` whose data folder (a 2 MB mount) fills up mid-run."""
    import json
    import os
    import signal
    import sys
    import time
    from pathlib import Path

    if not small_disk.mounted:
        pytest.skip("needs a size-limited mount (root)")
    repo = Path(__file__).resolve().parent.parent
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "engine": {"kind": "insightface", "pack": str(repo.parent / "shared/data/models/test_pack")},
        "cameras": [{"id": "cam", "source": str(repo.parent / "shared/data/video/short_hamilton_clip.mp4")}]}))
    out = tmp_path / "out.txt"
    results = tmp_path / "results.jsonl"
    with open(out, "w") as sink:
        proc = subprocess.Popen([sys.executable, str(repo / "app.py"), "run", "--headless", "--config", str(cfg),
                                 "--results", str(results)], cwd=repo, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "SPG_DATA_DIR": str(small_disk.path)})
        try:
            def frames() -> int:
                return results.read_text().count('"type": "frame"') if results.exists() else 0

            def wait(cond, timeout: float) -> None:
                end = time.monotonic() + timeout
                while time.monotonic() < end and not cond():
                    assert proc.poll() is None, out.read_text()
                    time.sleep(0.3)
                assert cond(), out.read_text()

            wait(lambda: frames() > 0, 120)
            small_disk.fill()
            wait(lambda: "the disk is full" in out.read_text(), 30)
            n = frames()
            wait(lambda: frames() > n + 3, 60)  # still monitoring on a full disk
            small_disk.free()
            wait(lambda: "events database usable again" in out.read_text(), 30)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0, out.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "cannot rollback" not in out.read_text() and "OperationalError" not in out.read_text()
    store = EventStore(small_disk.path / "events.db")
    assert store.integrity() == "ok" and store.get_meta("heartbeat") is not None
    store.close()


def test_removing_an_spg_while_the_events_disk_is_full_says_what_was_not_removed(small_disk, tmp_path):
    from core.forget_spg import forget_spg
    from core.gallery import Gallery, GalleryError
    from tests.test_gallery import _sample

    gallery = Gallery(tmp_path / "gallery")
    gallery.add_samples("ana", "Ana", [_sample(1)])
    db = small_disk.path / "events.db"
    store = EventStore(db)
    store.add_alert(1000.0, "ana", "absent", "Ana is away", photo=b"\xff\xd8face")
    store.close()
    small_disk.fill()
    with pytest.raises(GalleryError) as err:  # a sentence for the CLI and the console, not a traceback
        forget_spg(gallery, "ana", db)
    assert "still in the events database" in str(err.value) and "disk is full" in str(err.value)
    assert gallery.get("ana") is None
