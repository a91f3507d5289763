"""HQ scale: many outlets replicating into one PostgreSQL through the real outlet code path.

    .venv/bin/python benchmarks/hq_scale.py [--outlets 200] [--spgs 10] [--replay-s 120] [--offline 50]

Starts its own PostgreSQL (tests/pg_server.py: initdb into a temporary folder, 127.0.0.1 only), runs
``hq init`` and registers every outlet with ``add_outlet`` (one real login role each, row-level security on).
Each simulated outlet is what a real one runs: an ``EventStore`` (SQLite, WAL, synchronous=FULL) with the
central outbox, written through ``record_transition`` (transition + state + interval + alert + outbox entry in
one transaction), and a ``CentralReplicator`` thread connected with the outlet's own URL. The busy day of one SPG:
arrival, five short breaks (grace and back), two long absences (absence alert, return), leaving (absence alert):
19 transitions, 6 interval entries and 3 alerts.

1. Live day: every outlet replays its day concurrently, spread evenly over ``--replay-s`` seconds (a writer thread
   per outlet); prints events/s ingested, the outlet-to-HQ lag of transitions (HQ's received_at minus the local
   write) p50/p95, and the ``hq outlets`` query time (HqQueries.outlets, median of 5).
2. Catch-up: ``--offline`` more outlets were offline for 24 h: a whole day is queued in each outbox; their
   replicators start together; prints how long until HQ has everything, and the rate.
Threads in one Python process (the GIL included) on one machine that also runs PostgreSQL: the figures are a floor
for real outlets, each its own PC. The outlets' SQLite files are put in /dev/shm when it exists (see below).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from core.central.hq_queries import HqQueries  # noqa: E402
from core.central.replicator import CentralReplicator, OutletStatus, SpgStatus  # noqa: E402
from core.central.roles import add_outlet, login_url  # noqa: E402
from core.central.schema import migrate  # noqa: E402
from core.events_backend import StateRow  # noqa: E402
from core.events_db import EventStore  # noqa: E402
from core.presence import State, Transition  # noqa: E402
from tests.pg_server import PgServer  # noqa: E402

P, G, A, N = State.PRESENT, State.GRACE, State.ABSENT, State.NOT_SEEN


def spg_day() -> list[tuple[State, State, str | None, bool]]:
    """(from, to, interval op, alert) for one SPG's busy day."""
    day = [(N, P, "open", False)]
    for _ in range(5):
        day += [(P, G, None, False), (G, P, None, False)]
    for _ in range(2):
        day += [(P, G, None, False), (G, A, "close", True), (A, P, "open", False)]
    day += [(P, G, None, False), (G, A, "close", True)]
    return day


class SimOutlet:
    def __init__(self, folder: Path, outlet_id: str, url: str, spgs: int):
        self.id = outlet_id
        self.store = EventStore(folder / outlet_id / "events.db", central=True)
        self.outlet = type("O", (), {"id": outlet_id, "name": f"Toko {outlet_id}", "timezone": "Asia/Jakarta"})()
        self.url = url
        self.spgs = [f"spg{i:02d}" for i in range(spgs)]
        self.interval: dict[str, int | None] = dict.fromkeys(self.spgs)
        self.rep: CentralReplicator | None = None
        self.written = 0

    def steps(self) -> list[tuple[str, State, State, str | None, bool]]:
        """The day in time order: SPGs interleaved."""
        per = [[(s, *step) for step in spg_day()] for s in self.spgs]
        return [x for group in zip(*per, strict=True) for x in group]

    def write(self, spg: str, frm: State, to: State, op: str | None, alert: bool) -> None:
        now = time.time()
        t = Transition(spg, frm, to, now, camera_id="cam1", last_seen=now, alert=alert)
        interval = None
        if op == "open":
            interval = ("open", now)
        elif op == "close":
            interval = ("close", (self.interval[spg], now))
        row = StateRow(spg, to.value, now, now, "cam1", self.interval[spg])
        al = ("absent", f"{spg} absent", None, "pending") if alert else None
        _, iid, _ = self.store.record_transition(t, row, interval, al)
        self.interval[spg] = iid
        self.written += 1
        if self.rep is not None:
            self.rep.notify()

    def start_replicator(self) -> None:
        self.rep = CentralReplicator(self.url, self.store, self.outlet, connect_timeout_s=10)
        self.rep.set_status(OutletStatus(2, 2, "bench", tuple(SpgStatus(s, s.upper(), True, "present", True)
                                                               for s in self.spgs)))

    def entries(self) -> int:
        return self.store.outbox_waiting()


def wait_drained(outlets: list[SimOutlet], timeout_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if all(o.entries() == 0 for o in outlets):
            return time.monotonic() - t0
        time.sleep(0.2)
    raise SystemExit(f"not drained after {timeout_s:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outlets", type=int, default=200)
    ap.add_argument("--spgs", type=int, default=10)
    ap.add_argument("--replay-s", type=float, default=120.0)
    ap.add_argument("--offline", type=int, default=50)
    args = ap.parse_args()

    load_before = os.getloadavg()
    # The simulated outlets' SQLite files live in memory (/dev/shm) where there is one: 250 real outlets have a
    # disk each; sharing this VM's one disk for their fsyncs would measure that disk, not the replication.
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="hq-scale-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    server = PgServer()
    server.init()
    with (server.data / "postgresql.conf").open("a") as f:
        f.write(f"max_connections = {args.outlets + args.offline + 20}\n")
    server.start()
    server.wait_ready()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "brand"')
        admin = server.url(dbname="brand")
        with psycopg.connect(admin) as conn:
            migrate(conn)
            t0 = time.monotonic()
            ids = [f"o{i:03d}" for i in range(args.outlets + args.offline)]
            urls = {oid: login_url(admin, add_outlet(conn, oid, f"Toko {oid}")) for oid in ids}
            conn.commit()
            reg_s = time.monotonic() - t0
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, PostgreSQL {server.bin.parent.name}; "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average before {load_before[0]:.2f}")
        print(f"registered {len(ids)} outlets (a login role each) in {reg_s:.1f} s; outlet databases in {work}")
        per_outlet = args.spgs * len(spg_day())
        live = [SimOutlet(work / "outlets", oid, urls[oid], args.spgs) for oid in ids[:args.outlets]]
        late = [SimOutlet(work / "outlets", oid, urls[oid], args.spgs) for oid in ids[args.outlets:]]

        # 1. live day
        for o in live:
            o.start_replicator()
        gap = args.replay_s / per_outlet

        def replay(o: SimOutlet, offset: float) -> None:
            start = time.monotonic() + offset
            for i, step in enumerate(o.steps()):
                delay = start + i * gap - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                o.write(*step)

        t0 = time.monotonic()
        writers = [threading.Thread(target=replay, args=(o, gap * k / len(live))) for k, o in enumerate(live)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        written_s = time.monotonic() - t0
        drain_s = wait_drained(live, 600)
        total_s = written_s + drain_s
        sent = sum(o.rep.sent for o in live if o.rep is not None)
        with psycopg.connect(admin) as conn:
            n_tr = conn.execute("SELECT count(*) FROM spg.transitions").fetchone()[0]
            lags = [r[0] for r in conn.execute(
                "SELECT extract(epoch FROM received_at - ts) FROM spg.transitions").fetchall()]
        assert n_tr == args.outlets * per_outlet, (n_tr, args.outlets * per_outlet)
        q = statistics.quantiles([float(x) for x in lags], n=100)
        print(f"live day: {args.outlets} outlets x {args.spgs} SPGs, {n_tr} transitions ({sent} outbox entries with "
              f"intervals and alerts) written over {written_s:.0f} s; HQ had all {drain_s:.1f} s after the last "
              f"write: {sent / total_s:.0f} entries/s ingested ({n_tr / total_s:.0f} transitions/s)")
        print(f"outlet-to-HQ lag of transitions: p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, "
              f"max {max(lags) * 1000:.0f} ms")
        hq = HqQueries(admin)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            rows = hq.outlets()
            times.append(time.perf_counter() - t)
        hq.close()
        print(f"hq outlets query ({len(rows)} outlets): median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms")

        # 2. catch-up after 24 h offline: a whole day queued locally, then the link comes back for all at once
        for o in late:
            for step in o.steps():
                o.write(*step)
        queued = sum(o.entries() for o in late)
        t0 = time.monotonic()
        for o in late:
            o.start_replicator()
        catch_s = wait_drained(late, 900)
        with psycopg.connect(admin) as conn:
            n_late = conn.execute("SELECT count(*) FROM spg.transitions WHERE outlet_id = ANY(%s)",
                                  ([o.id for o in late],)).fetchone()[0]
        assert n_late == len(late) * per_outlet
        print(f"catch-up: {len(late)} outlets back after 24 h offline with {queued} entries queued "
              f"({queued // max(1, len(late))} each): HQ had everything in {catch_s:.1f} s "
              f"({queued / catch_s:.0f} entries/s), while the {args.outlets} others stayed connected")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        for o in live + late:
            if o.rep is not None:
                o.rep.close()
            o.store.close()
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
