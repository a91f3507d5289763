"""The outlet's side of the outbox to the central database: rows in the local SQLite ``central_outbox`` table.

:class:`core.events_db.EventStore` calls the ``queue_*`` functions inside the transaction that writes the
transition, interval or alert itself, so an event is either stored AND queued, or neither: a crash (SIGKILL,
power cut) between the local write and the replication loses nothing. Each entry carries the local row as it
is now (JSON) under a key naming that row (``t:12``, ``i:5``, ``a:3``); a row that changes again replaces its
waiting entry, which moves to the end. The replicator (:mod:`core.central.replicator`) reads entries in
``id`` order and deletes them once the central database committed them; the central side writes by key
(``ON CONFLICT``), so an entry sent twice (a crash after the central commit, before the local delete)
writes nothing twice.

No network and no PostgreSQL here: this module only knows the local file.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

TRANSITION, INTERVAL, ALERT = "transition", "interval", "alert"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    key: str
    kind: str
    payload: dict[str, Any]
    queued: float
    """Wall time the entry was (last) queued: the outlet-to-HQ lag is measured from it."""


class OutboxSource(Protocol):
    """What the replicator needs from the local store (:class:`core.events_db.EventStore` implements it)."""

    def outbox_instance(self) -> str:
        """A random token of this events database, part of every key at HQ."""
        ...

    def outbox_batch(self, limit: int) -> list[OutboxRow]:
        """The oldest ``limit`` entries waiting, in order."""
        ...

    def outbox_done(self, rows: list[OutboxRow]) -> None:
        """The central database committed these: remove them (an entry replaced meanwhile stays)."""
        ...

    def outbox_waiting(self) -> int: ...


def _put(c: sqlite3.Connection, key: str, kind: str, payload: dict[str, Any], now: float) -> None:
    c.execute("INSERT OR REPLACE INTO central_outbox (key, kind, payload, queued) VALUES (?, ?, ?, ?)",
              (key, kind, json.dumps(payload, separators=(",", ":")), now))


def queue_transition(c: sqlite3.Connection, tid: int, now: float) -> None:
    r = c.execute("SELECT id, ts, spg_id, from_state, to_state, camera_id, alert FROM transitions WHERE id = ?",
                  (tid,)).fetchone()
    if r is not None:
        _put(c, f"t:{r[0]}", TRANSITION, {"seq": r[0], "ts": r[1], "spg_id": r[2], "from": r[3], "to": r[4],
                                          "camera_id": r[5], "alert": bool(r[6])}, now)


def queue_interval(c: sqlite3.Connection, iid: int | None, now: float) -> None:
    if iid is None:
        return
    r = c.execute("SELECT id, spg_id, start, last_seen, closed FROM intervals WHERE id = ?", (iid,)).fetchone()
    if r is not None:
        _put(c, f"i:{r[0]}", INTERVAL, {"id": r[0], "spg_id": r[1], "start": r[2], "last_seen": r[3],
                                        "closed": bool(r[4])}, now)


def queue_alert(c: sqlite3.Connection, aid: int | None, now: float) -> None:
    """The alert as it is now (no photo: face data stays at the outlet)."""
    if aid is None:
        return
    r = c.execute("SELECT id, created, spg_id, kind, text, status, sent_at FROM alerts WHERE id = ?",
                  (aid,)).fetchone()
    if r is not None:
        _put(c, f"a:{r[0]}", ALERT, {"id": r[0], "created": r[1], "spg_id": r[2], "kind": r[3], "text": r[4],
                                     "status": r[5], "sent_at": r[6]}, now)


def read_batch(c: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    rows = c.execute("SELECT id, key, kind, payload, queued FROM central_outbox ORDER BY id LIMIT ?",
                     (limit,)).fetchall()
    return [OutboxRow(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]


def delete_done(c: sqlite3.Connection, rows: list[OutboxRow]) -> None:
    # by id AND key: an entry replaced while it was on its way has a new id and stays
    c.executemany("DELETE FROM central_outbox WHERE id = ? AND key = ?", [(r.id, r.key) for r in rows])
