"""Outlets replicating into the brand's central PostgreSQL (issue 13), against a real server (tests/pg_server.py).

The real AttendanceService, EventStore (its outbox) and CentralReplicator, fed frame results on a fake clock;
processes killed with SIGKILL mid-way; the server stopped and started again; outlet roles trying to read and
write each other's rows; a wrong password and an unreachable server. Real headless outlet runs on footage are
in tests/test_central_headless.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from core.attendance import AttendanceService
from core.central.replicator import CentralReplicator
from core.central.roles import add_outlet, login_url
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from tests.test_attendance import feed, idle

REPO = Path(__file__).resolve().parent.parent
NAMES = {"ana": "Ana", "budi": "Budi"}
TZ = ZoneInfo("Asia/Jakarta")


def register(admin_url: str, outlet_id: str, name: str) -> str:
    """What ``app.py hq add-outlet`` does: the outlet's own login URL."""
    with psycopg.connect(admin_url) as conn:
        return login_url(admin_url, add_outlet(conn, outlet_id, name))


def outlet_cfg(outlet_id: str, name: str) -> AppConfig:
    return AppConfig.model_validate({
        "outlet": {"id": outlet_id, "name": name, "timezone": "Asia/Jakarta"},
        "presence": {"grace_seconds": 5, "absent_seconds": 30, "confirm_hits": 2, "confirm_window_s": 3,
                     "hit_log_interval_s": 5},
        "central": {"enabled": True}})


class Outlet:
    """One outlet: its events.db with the outbox, the attendance service, the replicator (no thread: the
    test runs its passes)."""

    def __init__(self, folder: Path, url: str, outlet_id: str, name: str, clock: FakeClock):
        self.cfg = outlet_cfg(outlet_id, name)
        self.clock = clock
        self.store = EventStore(folder / outlet_id / "events.db", central=True)
        self.rep = CentralReplicator(url, self.store, self.cfg.outlet, clock, start=False, connect_timeout_s=2)
        self.svc = AttendanceService(self.cfg, self.store, None, clock, lambda: NAMES, central=self.rep)

    def work_a_shift(self) -> None:
        """Both SPGs arrive, Budi leaves for good (absent, with an alert), Ana stays."""
        feed(self.svc, self.clock, 8, spgs=("ana", "budi"))
        feed(self.svc, self.clock, 45, spgs=("ana",))

    def local_transitions(self) -> list[tuple[str, str, str]]:
        rows = self.store.transitions_between(0, 2e9)
        return [(r.spg_id, r.from_state, r.to_state) for r in rows]

    def close(self) -> None:
        self.svc.close()


def central_transitions(admin_url: str, outlet_id: str) -> list[tuple[str, str, str, int]]:
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute("SELECT spg_id, from_state, to_state, seq FROM spg.transitions WHERE outlet_id = %s "
                            "ORDER BY seq", (outlet_id,)).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def hq(*argv: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPG_")}
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "hq", *argv], capture_output=True, text=True,
                          timeout=120, cwd=str(REPO), env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture
def clock():
    return FakeClock(start=datetime(2026, 11, 25, 9, 0, tzinfo=TZ).timestamp())


def test_two_outlets_replicate_into_one_hq(fresh_central_db, tmp_path, clock):
    outlets = [Outlet(tmp_path, register(fresh_central_db, oid, name), oid, name, clock)
               for oid, name in (("jkt01", "Jakarta Kota"), ("bdg02", "Bandung Dago"))]
    for o in outlets:
        o.work_a_shift()
        assert o.rep.sync_once() > 0
    link = outlets[0].svc.link_state()
    assert link.enabled and link.connected and link.waiting == 0 and link.last_error is None

    rows = {r["outlet_id"]: r for r in hq("outlets", "--db", fresh_central_db)}
    assert set(rows) == {"jkt01", "bdg02"}
    for oid, name in (("jkt01", "Jakarta Kota"), ("bdg02", "Bandung Dago")):
        assert rows[oid]["name"] == name and rows[oid]["online"] is True and rows[oid]["last_heartbeat"]
        assert rows[oid]["spgs"] == 2 and rows[oid]["present"] == 1  # Ana present, Budi absent
    events = hq("events", "--db", fresh_central_db)
    for o in outlets:
        mine = [(e["spg_id"], e["from"], e["to"]) for e in events if e["outlet_id"] == o.cfg.outlet.id]
        assert mine == o.local_transitions()  # everything, in the outlet's order
        assert ("budi", "grace", "absent") in mine
    assert any(e["alert"] for e in events if e["to"] == "absent")
    only = hq("events", "--db", fresh_central_db, "--outlet", "bdg02")
    assert only and {e["outlet_id"] for e in only} == {"bdg02"}
    # no --db: the URL the one config loader finds (SPG_CENTRAL_URL in the data folder's .env)
    hq_data = tmp_path / "hq_data"
    hq_data.mkdir()
    (hq_data / ".env").write_text(f"SPG_CENTRAL_URL={fresh_central_db}\n", encoding="utf-8")
    assert {r["outlet_id"] for r in hq("--data-dir", str(hq_data), "outlets")} == {"jkt01", "bdg02"}

    # intervals and alerts went up too (no face photo travels with an alert)
    with psycopg.connect(fresh_central_db) as conn:
        ivs = conn.execute("SELECT outlet_id, spg_id, closed FROM spg.intervals ORDER BY 1, 2").fetchall()
        alerts = conn.execute("SELECT outlet_id, spg_id, kind FROM spg.alerts ORDER BY 1").fetchall()
    assert ("jkt01", "budi", True) in ivs and ("jkt01", "ana", False) in ivs
    assert ("bdg02", "budi", "absent") in alerts and ("jkt01", "budi", "absent") in alerts
    for o in outlets:
        o.close()


def test_database_stopped_for_a_while_every_event_arrives_once_in_order(pg_server, fresh_central_db, tmp_path, clock):
    o = Outlet(tmp_path, register(fresh_central_db, "sby03", "Surabaya"), "sby03", "Surabaya", clock)
    feed(o.svc, clock, 8, spgs=("ana", "budi"))
    assert o.rep.sync_once() > 0
    pg_server.stop()
    try:
        # the link goes down while the outlet goes on: Budi leaves, Ana leaves, both come back
        feed(o.svc, clock, 45, spgs=("ana",))
        idle(o.svc, clock, 40)
        o.rep.sync_once()
        link = o.svc.link_state()
        assert not link.connected and link.offline_since is not None and link.waiting > 0
        assert "Cannot reach the central database" in link.last_error and "hq-admin" not in link.last_error
        feed(o.svc, clock, 8, spgs=("ana", "budi"))
        clock.advance(120)  # past the backoff
        o.rep.sync_once()
        assert not o.svc.link_state().connected
    finally:
        pg_server.start()
        pg_server.wait_ready()
    clock.advance(120)
    o.rep.sync_once()
    link = o.svc.link_state()
    assert link.connected and link.waiting == 0 and link.offline_since is None
    local = o.local_transitions()
    assert len(local) >= 6  # present x2, grace/absent x2, back x2
    central = central_transitions(fresh_central_db, "sby03")
    assert [c[:3] for c in central] == local  # each exactly once, in the outlet's order
    assert len({c[3] for c in central}) == len(central)
    # sending everything again (a replay) writes nothing twice
    o.store.conn.execute("DELETE FROM central_outbox")
    with o.store.conn:
        from core.central.outbox import queue_transition

        for (tid,) in o.store.conn.execute("SELECT id FROM transitions").fetchall():
            queue_transition(o.store.conn, tid, clock.time())
    assert o.rep.sync_once() == len(local)
    assert central_transitions(fresh_central_db, "sby03") == central
    o.close()


_KILLED_OUTLET = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from zoneinfo import ZoneInfo
    sys.path.insert(0, {repo!r})
    from core.attendance import AttendanceService
    from core.central.replicator import CentralReplicator
    from core.clock import FakeClock
    from core.events_db import EventStore
    from tests.test_attendance import feed
    from tests.test_central_replication import NAMES, outlet_cfg

    url, db, phase = sys.argv[1], sys.argv[2], sys.argv[3]
    clock = FakeClock(start=datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp())
    cfg = outlet_cfg("mdn04", "Medan")
    store = EventStore(db, central=True)
    rep = CentralReplicator(url, store, cfg.outlet, clock, start=False, connect_timeout_s=2)
    svc = AttendanceService(cfg, store, None, clock, lambda: NAMES, central=rep)
    if phase == "local":
        # the central database cannot be reached while the outlet writes; killed right after the writes
        feed(svc, clock, 8, spgs=("ana", "budi"))
        feed(svc, clock, 45, spgs=("ana",))
        rep.sync_once()
        print("waiting", store.outbox_waiting(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    # phase "acked": the central database commits the batch; killed before the outlet deletes it locally
    def killed(rows):
        print("committed", len(rows), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    store.outbox_done = killed
    rep.sync_once()
""")


def _run_killed(tmp_path: Path, url: str, db: Path, phase: str) -> str:
    script = tmp_path / "outlet.py"
    script.write_text(_KILLED_OUTLET.format(repo=str(REPO)))
    proc = subprocess.run([sys.executable, str(script), url, str(db), phase], capture_output=True, text=True,
                          timeout=120, cwd=str(REPO), check=False)
    assert proc.returncode == -9, proc.stderr[-3000:]  # really killed, no clean shutdown
    return proc.stdout


def test_outlet_killed_between_local_write_and_replication_loses_and_doubles_nothing(
        pg_server, fresh_central_db, tmp_path, clock):
    url = register(fresh_central_db, "mdn04", "Medan")
    unreachable = url.replace(f":{pg_server.port}/", ":9/")
    db = tmp_path / "mdn04" / "events.db"
    db.parent.mkdir()
    # 1. killed after writing locally, before anything went up (central unreachable)
    out = _run_killed(tmp_path, unreachable, db, "local")
    assert "waiting" in out and int(out.split()[-1]) > 0
    assert central_transitions(fresh_central_db, "mdn04") == []
    # 2. restarted with the right URL: the central database commits the batch, and the outlet is killed
    #    before it deletes the entries locally
    out = _run_killed(tmp_path, url, db, "acked")
    assert "committed" in out
    after_kill = central_transitions(fresh_central_db, "mdn04")
    assert after_kill
    # 3. a normal restart sends the same entries again: nothing doubled, nothing lost, in order
    store = EventStore(db, central=True)
    assert store.outbox_waiting() > 0  # the kill left them queued
    rep = CentralReplicator(url, store, outlet_cfg("mdn04", "Medan").outlet, clock, start=False)
    rep.sync_once()
    assert store.outbox_waiting() == 0
    local = [(r.spg_id, r.from_state, r.to_state) for r in store.transitions_between(0, 2e9)]
    central = central_transitions(fresh_central_db, "mdn04")
    assert [c[:3] for c in central] == local and central == after_kill
    assert ("budi", "grace", "absent") in local
    rep.close()
    store.close()


def test_an_outlet_can_neither_read_nor_write_another_outlets_rows(fresh_central_db, tmp_path, clock):
    a = Outlet(tmp_path, register(fresh_central_db, "jkt01", "Jakarta"), "jkt01", "Jakarta", clock)
    b_url = register(fresh_central_db, "bdg02", "Bandung")
    b = Outlet(tmp_path, b_url, "bdg02", "Bandung", clock)
    for o in (a, b):
        o.work_a_shift()
        o.rep.sync_once()
    with psycopg.connect(b_url, autocommit=True) as conn:
        # reading: only its own rows, in every table
        for table in ("outlets", "outlet_status", "spgs", "transitions", "intervals", "alerts"):
            owners = {r[0] for r in conn.execute(f"SELECT outlet_id FROM spg.{table}").fetchall()}
            assert owners == {"bdg02"}, (table, owners)
        assert conn.execute("SELECT count(*) FROM spg.transitions WHERE outlet_id = 'jkt01'").fetchone()[0] == 0
        # writing another outlet's rows: refused
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO spg.transitions (outlet_id, event_key, seq, spg_id, from_state, to_state, ts) "
                         "VALUES ('jkt01', 'forged', 1, 'ana', 'present', 'absent', now())")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE spg.spgs SET outlet_id = 'jkt01' WHERE outlet_id = 'bdg02'")
        # an UPDATE or DELETE aimed at the other outlet's rows finds none
        assert conn.execute("UPDATE spg.transitions SET spg_id = 'x' WHERE outlet_id = 'jkt01'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM spg.transitions WHERE outlet_id = 'jkt01'")
    assert [t[:3] for t in central_transitions(fresh_central_db, "jkt01")] == a.local_transitions()
    for o in (a, b):
        o.close()


def test_wrong_password_or_unreachable_server_says_so_and_recording_goes_on(pg_server, fresh_central_db, tmp_path,
                                                                            clock, caplog):
    good = register(fresh_central_db, "mks05", "Makassar")
    password = good.split(":")[2].split("@")[0]
    wrong = good.replace(password, "not-the-password")
    unreachable = good.replace(f":{pg_server.port}/", ":9/")
    for url, expected in ((wrong, "refused this outlet's login (wrong user or password)"),
                          (unreachable, "Cannot reach the central database")):
        caplog.clear()
        o = Outlet(tmp_path / expected[:6], url, "mks05", "Makassar", clock)
        o.work_a_shift()
        o.rep.sync_once()
        link = o.svc.link_state()
        assert not link.connected and expected in link.last_error
        assert "***@127.0.0.1" in link.last_error and password not in link.last_error
        assert "not-the-password" not in link.last_error
        logged = [r.getMessage() for r in caplog.records if "central database" in r.getMessage()]
        assert len(logged) == 1 and expected in logged[0], logged
        # locally nothing stopped: transitions and the alert are in the events database, and wait to go up
        assert ("budi", "grace", "absent") in o.local_transitions()
        assert link.waiting > 0 and o.svc.store_ok
        o.close()
    assert central_transitions(fresh_central_db, "mks05") == []


def test_a_database_never_initialised_is_refused_with_a_sentence(pg_server, tmp_path, clock):
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "t_blank"')
        conn.execute('CREATE DATABASE "t_blank"')
    o = Outlet(tmp_path, pg_server.url(dbname="t_blank"), "x1", "X", clock)
    o.rep.sync_once()
    assert "schema version 0" in o.svc.link_state().last_error and "app.py hq init" in o.svc.link_state().last_error
    o.close()


def test_central_url_from_the_data_folders_env_is_used_masked_and_never_saved(tmp_path, monkeypatch):
    from core.config import load_config, save_config, settings_file
    from core.secrets import redact

    monkeypatch.delenv("SPG_CENTRAL_URL", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    url = "postgresql://spg_outlet_jkt01:Zq9%40s3cr#t!x@hq.example.com:5432/brand?sslmode=require"
    (data / ".env").write_text(f"SPG_CENTRAL_URL={url}\n", encoding="utf-8")
    (tmp_path / "app.yaml").write_text("central:\n  enabled: true\n", encoding="utf-8")
    cfg = load_config(data_dir=data, base=tmp_path / "app.yaml", dev=tmp_path / "none.yaml",
                      env_file=tmp_path / "none.env")
    assert cfg.central.enabled and cfg.central.url is not None and cfg.central.url.get_secret_value() == url
    # the password is masked wherever it shows, in every spelling, also outside a URL
    for shown in (url, "Zq9%40s3cr#t!x", "Zq9@s3cr#t!x"):
        assert "s3cr" not in redact(f"failed: {shown}")
    assert "s3cr" not in repr(cfg) and "s3cr" not in str(cfg.model_dump())
    save_config(cfg, settings_file(data))
    saved = settings_file(data).read_text(encoding="utf-8")
    assert "s3cr" not in saved and "hq.example.com" not in saved and "enabled: true" in saved


def test_outbox_entries_are_written_with_their_rows_and_a_changed_row_replaces_its_waiting_entry(tmp_path, clock):
    store = EventStore(tmp_path / "events.db", central=True)
    svc = AttendanceService(outlet_cfg("o1", "O"), store, None, clock, lambda: NAMES)
    feed(svc, clock, 8, spgs=("ana",))
    kinds = [r.kind for r in store.outbox_batch(100)]
    assert kinds[:1] == ["transition"] and "interval" in kinds
    first = store.outbox_batch(100)
    interval = next(r for r in first if r.kind == "interval")
    # on its way to HQ, the interval grows (a later sighting): the replicator's ack must not drop the newer state
    feed(svc, clock, 3, spgs=("ana",))
    store.flush()
    store.outbox_done(first)
    left = store.outbox_batch(100)
    assert [r.key for r in left] == [interval.key] and left[0].payload["last_seen"] > interval.payload["last_seen"]
    # an events database without central queues nothing
    plain = EventStore(tmp_path / "plain.db")
    svc2 = AttendanceService(outlet_cfg("o2", "O"), plain, None, clock, lambda: NAMES)
    feed(svc2, clock, 8, spgs=("ana",))
    assert plain.transitions_between(0, 2e9) and plain.outbox_waiting() == 0
    svc.close()
    svc2.close()


def test_the_router_never_waits_on_a_server_that_does_not_answer(tmp_path, clock):
    """A server that accepts the connection and then says nothing (a hung HQ, a black-holing firewall): the
    replicator's thread waits for it, the attendance calls the router makes do not, and shutdown is bounded."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    url = f"postgresql://spg_outlet:s3cret-pw@127.0.0.1:{port}/brand"
    try:
        cfg = outlet_cfg("o1", "O")
        store = EventStore(tmp_path / "events.db", central=True)
        rep = CentralReplicator(url, store, cfg.outlet, clock, connect_timeout_s=3, poll_s=0.05)  # thread runs
        svc = AttendanceService(cfg, store, None, clock, lambda: NAMES, central=rep)
        slowest = 0.0
        for _ in range(20):
            t0 = time.perf_counter()
            feed(svc, clock, 1, spgs=("ana",))
            slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(0.1)  # two seconds of real time: the thread is stuck in its connection meanwhile
        assert slowest < 0.5, f"an attendance call took {slowest:.2f} s"
        deadline = time.monotonic() + 10
        while svc.link_state().last_error is None and time.monotonic() < deadline:
            time.sleep(0.1)
        link = svc.link_state()
        assert "Cannot reach the central database" in link.last_error and "s3cret-pw" not in link.last_error
        assert link.waiting > 0
        t0 = time.monotonic()
        svc.close()  # flush_on_exit_s is 10 s; one more try that times out ends it
        assert time.monotonic() - t0 < 10.5
    finally:
        silent.close()


def test_the_router_hands_the_central_link_to_the_console_batch_and_the_metrics(tmp_path):
    from prometheus_client import generate_latest

    from core.central.link_state import LinkState
    from core.config import MonitoringConfig
    from core.metrics import Metrics
    from tests.test_metrics import value
    from tests.ui_fakes import FakeAttendance, FakePipeline
    from workers.router import Router

    cfg = AppConfig.model_validate({"cameras": [{"id": "cam1", "source": "v.mp4"}]})
    att = FakeAttendance(lambda: NAMES)
    metrics = Metrics(MonitoringConfig())
    router = Router(FakePipeline(cfg, tmp_path), att, metrics=metrics)
    router.start()
    try:
        assert router.step().link == LinkState()  # the first step says what there is (here: nothing)
        att.link = LinkState(enabled=True, connected=False, offline_since=1.0, waiting=12, last_error="down")
        assert router.step().link == att.link
        assert router.step().link is None  # unchanged: nothing to hand out
        text = generate_latest(metrics.registry).decode()
        assert value(text, "spg_central_link_up") == 0 and value(text, "spg_central_link_waiting_events") == 12
    finally:
        router.close()
