"""``events.jsonl``: the raw events of any :class:`core.events_backend.EventBackend`, one JSON object a line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.events_backend import EventBackend


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def export_jsonl(store: EventBackend, out: Path | str, start: float = 0.0, end: float = float("inf"),
                 spg_ids: Sequence[str] | None = None) -> int:
    """Write the seed's ``events.jsonl``, oldest first; returns the number of lines.

    ``{"ts": ISO-8601 UTC, "event": "SPG_SEEN", "spg_id", "camera_id", "similarity"}`` for hits,
    ``{"ts", "event": "STATE_CHANGE", "spg_id", "from", "to", "camera_id", "last_seen"}`` for transitions,
    ``{"ts", "event": "ALERT", "spg_id", "kind", "status"}`` for alerts.
    """
    end = min(end, 1e13)
    events: list[tuple[float, dict[str, Any]]] = []
    for ts, spg, cam, sim in store.hits_between(start, end, spg_ids):
        events.append((ts, {"event": "SPG_SEEN", "spg_id": spg, "camera_id": cam,
                            "similarity": None if sim is None else round(sim, 4)}))
    for t in store.transitions_between(start, end, spg_ids):
        events.append((t.ts, {"event": "STATE_CHANGE", "spg_id": t.spg_id, "from": t.from_state.upper(),
                              "to": t.to_state.upper(), "camera_id": t.camera_id,
                              "last_seen": _iso(t.last_seen) if t.last_seen else None}))
    for a in store.alerts_between(start, end):
        if spg_ids and a.spg_id not in spg_ids:
            continue
        events.append((a.created, {"event": "ALERT", "spg_id": a.spg_id, "kind": a.kind, "status": a.status}))
    events.sort(key=lambda e: e[0])
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ts, ev in events:
            f.write(json.dumps({"ts": _iso(ts), **ev}, ensure_ascii=False) + "\n")
    return len(events)
