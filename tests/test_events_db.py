"""Events database: durability, migrations, retention, events.jsonl, corrupt and locked files."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from core.events_backend import EventStoreCorrupt, EventStoreLocked, StateRow
from core.events_db import EventStore
from core.events_export import export_jsonl
from core.events_schema import SCHEMA_VERSION
from core.presence import State, Transition


def _t(spg="ana", frm=State.PRESENT, to=State.ABSENT, ts=100.0, alert=True):
    return Transition(spg, frm, to, ts, "cam1", ts - 60, alert)


def other(path):
    return sqlite3.connect(str(path))


def test_transitions_and_alerts_are_on_disk_at_once_hits_within_a_second(tmp_path):
    mono = [0.0]
    db = tmp_path / "events.db"
    store = EventStore(db, mono=lambda: mono[0])
    store.log_hit(1.0, "ana", "cam1", 0.7)
    store.flush_due()
    assert other(db).execute("SELECT COUNT(*) FROM hits").fetchone()[0] == 0  # buffered (< 1 s)
    mono[0] = 1.0
    store.flush_due()
    assert other(db).execute("SELECT COUNT(*) FROM hits").fetchone()[0] == 1  # flushed after 1 s
    store.log_hit(2.0, "ana", "cam1", 0.7)
    state = StateRow("ana", "absent", 100.0, 40.0, "cam1", None)
    store.record_transition(_t(), state, None, ("absent", "Ana is absent", b"jpg", "pending"))
    # no close(), no flush(): a crash now loses nothing that matters
    c = other(db)
    assert c.execute("SELECT spg_id, to_state, alert FROM transitions").fetchall() == [("ana", "absent", 1)]
    assert c.execute("SELECT text, status, photo FROM alerts").fetchall() == [("Ana is absent", "pending", b"jpg")]
    assert c.execute("SELECT state FROM spg_state").fetchall() == [("absent",)]
    assert c.execute("SELECT COUNT(*) FROM hits").fetchone()[0] == 2  # the transition took the buffer along
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_migrates_an_old_schema_without_losing_rows(tmp_path):
    from core.events_schema import MIGRATIONS

    db = tmp_path / "events.db"
    c = sqlite3.connect(str(db))
    c.executescript(MIGRATIONS[0])
    c.execute("INSERT INTO transitions (ts, spg_id, from_state, to_state) VALUES (5, 'ana', 'not_seen', 'present')")
    c.execute("INSERT INTO alerts (created, spg_id, kind, text) VALUES (5, 'ana', 'absent', 'old alert')")
    c.execute("PRAGMA user_version=1")
    c.commit()
    c.close()
    store = EventStore(db)
    assert other(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [a.text for a in store.pending_alerts()] == ["old alert"]
    store.mark_alert_sent(store.pending_alerts()[0].id, 6.0, message_id=42)  # v2 column works
    assert len(store.transitions_between(0, 10)) == 1
    store.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    db = tmp_path / "events.db"
    c = sqlite3.connect(str(db))
    c.execute("PRAGMA user_version=99")
    c.commit()
    c.close()
    with pytest.raises(Exception) as e:
        EventStore(db)
    assert str(db) in str(e.value) and "newer version" in str(e.value)


def test_retention_prunes_old_hits_only(tmp_path):
    store = EventStore(tmp_path / "events.db")
    day = 86400.0
    for d in range(10):
        store.log_hit(d * day, "ana", "cam1", 0.8)
    store.record_transition(_t(ts=1.0), StateRow("ana", "absent", 1.0, 0.0, "cam1", None), None, None)
    assert store.prune_hits(7 * day) == 7
    assert [h[0] for h in store.hits_between(0, 1e12)] == [7 * day, 8 * day, 9 * day]
    assert len(store.transitions_between(0, 1e12)) == 1  # transitions are kept
    store.close()


def test_export_events_jsonl(tmp_path):
    store = EventStore(tmp_path / "events.db")
    store.log_hit(1767225600.0, "ana", "cam1", 0.81234)
    store.record_transition(Transition("ana", State.NOT_SEEN, State.PRESENT, 1767225600.5, "cam1", 1767225600.0),
                            StateRow("ana", "present", 1767225600.5, 1767225600.0, "cam1", None), ("open", 1767225600.5), None)
    out = tmp_path / "events.jsonl"
    assert export_jsonl(store, out) == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0] == {"ts": "2026-01-01T00:00:00.000+00:00", "event": "SPG_SEEN", "spg_id": "ana",
                        "camera_id": "cam1", "similarity": 0.8123}
    assert lines[1]["event"] == "STATE_CHANGE" and lines[1]["from"] == "NOT_SEEN" and lines[1]["to"] == "PRESENT"
    store.close()


def _fill(db, n_hits=3000):
    store = EventStore(db)
    for i in range(20):
        store.record_transition(_t(spg=f"spg{i}", ts=float(i)), StateRow(f"spg{i}", "absent", float(i), 0.0, "c", None),
                                None, ("absent", f"alert {i}", None, "sent"))
    for i in range(n_hits):
        store.log_hit(1000.0 + i, f"spg{i % 20}", "cam1", 0.5)
    store.close()
    c = sqlite3.connect(str(db))
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def test_corrupt_file_is_moved_aside_never_deleted_and_readable_rows_kept(tmp_path, caplog):
    db = tmp_path / "events.db"
    _fill(db)
    data = bytearray(db.read_bytes())
    # Damage the tail of the file (the later hit pages); the early pages (transitions, alerts) stay readable.
    cut = int(len(data) * 0.7)
    data[cut: cut + 8192] = b"\xde\xad\xbe\xef" * 2048
    db.write_bytes(bytes(data))
    digest = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(EventStoreCorrupt) as e:
        EventStore(db, recover=False)
    assert str(db) in str(e.value) and "damaged" in str(e.value)
    store = EventStore(db)  # default: recover
    aside = store.recovered_from
    assert aside is not None and aside.exists() and hashlib.sha256(aside.read_bytes()).hexdigest() == digest
    assert len(store.transitions_between(0, 1e12)) == 20
    assert len(store.alerts_between(0, 1e12)) == 20
    assert 0 < len(store.hits_between(0, 1e12)) <= 3000
    store.record_transition(_t(ts=5000.0), StateRow("ana", "absent", 1.0, 0.0, "c", None), None, None)  # usable
    store.close()


def test_garbage_file_gets_a_clear_error_and_is_kept(tmp_path):
    db = tmp_path / "events.db"
    db.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(EventStoreCorrupt) as e:
        EventStore(db, recover=False)
    assert str(db) in str(e.value)
    store = EventStore(db)
    assert store.recovered_from.read_bytes().startswith(b"this is not a database")
    store.close()


def test_locked_database_clear_error_and_no_data_loss(tmp_path):
    db = tmp_path / "events.db"
    store = EventStore(db, timeout_s=0.3)
    store.record_transition(_t(ts=1.0), StateRow("ana", "absent", 1.0, 0.0, "c", None), None, None)
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(EventStoreLocked) as e:
        store.record_transition(_t(ts=2.0), StateRow("ana", "absent", 2.0, 0.0, "c", None), None, None)
    assert str(db) in str(e.value) and "locked" in str(e.value)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert len(store.transitions_between(0, 10)) == 1  # nothing lost, store still usable
    store.record_transition(_t(ts=3.0), StateRow("ana", "absent", 3.0, 0.0, "c", None), None, None)
    store.close()


def test_locked_at_open_names_the_file(tmp_path):
    db = tmp_path / "events.db"
    c = sqlite3.connect(str(db), isolation_level=None)  # another program, classic journal mode
    c.execute("CREATE TABLE x (a)")
    c.execute("INSERT INTO x VALUES (1)")
    c.execute("BEGIN EXCLUSIVE")
    with pytest.raises(EventStoreLocked) as e:
        EventStore(db, timeout_s=0.3)
    assert str(db) in str(e.value)
    c.execute("ROLLBACK")
    assert c.execute("SELECT a FROM x").fetchall() == [(1,)]
    c.close()
