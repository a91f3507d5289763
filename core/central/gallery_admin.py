"""Gallery sharing, HQ's side: the brand's SPGs in the central database (``app.py hq gallery ...``).

HQ lists the shared SPGs, assigns them to outlets (or takes an assignment back), removes them, and enrolls
SPGs itself (embedded at HQ with the configured engine). These writes need the admin URL: outlet roles
only publish their own SPGs, HQ read roles write nothing.

Removal keeps the people row as a tombstone (``removed``) with its assignments and deletes every sample
(embeddings and photos) at once: an outlet that is offline learns of the removal when it reconnects and
erases the SPG's face data there (:mod:`core.central.gallery_sync`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg


class GalleryAdminError(Exception):
    """A gallery change HQ asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class CentralPerson:
    spg_id: str
    name: str
    removed: bool
    origin_outlet: str | None
    outlets: list[str]
    samples: int
    models: list[str]
    version: int


@dataclass
class CentralSample:
    """One enrolled face for the central gallery."""

    model_id: str
    embedding: np.ndarray
    photo: bytes | None = None
    bbox: list[float] = field(default_factory=list)
    sample_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def list_people(conn: psycopg.Connection[Any]) -> list[CentralPerson]:
    with conn.transaction():
        rows = conn.execute("""
            SELECT p.spg_id, p.name, p.removed, p.origin_outlet,
                   coalesce((SELECT array_agg(a.outlet_id ORDER BY a.outlet_id) FROM spg.gallery_assignments a
                             WHERE a.spg_id = p.spg_id), '{}'),
                   (SELECT count(*) FROM spg.gallery_samples s WHERE s.spg_id = p.spg_id),
                   coalesce((SELECT array_agg(DISTINCT s.model_id) FROM spg.gallery_samples s
                             WHERE s.spg_id = p.spg_id), '{}'),
                   p.version
            FROM spg.gallery_people p ORDER BY p.spg_id""").fetchall()
    return [CentralPerson(str(r[0]), str(r[1]), bool(r[2]), r[3], list(r[4]), int(r[5]), sorted(r[6]), int(r[7]))
            for r in rows]


def _person(conn: psycopg.Connection[Any], spg_id: str) -> tuple[str, bool] | None:
    row = conn.execute("SELECT name, removed FROM spg.gallery_people WHERE spg_id = %s FOR UPDATE",
                       (spg_id,)).fetchone()
    return (str(row[0]), bool(row[1])) if row else None


def _require_live(conn: psycopg.Connection[Any], spg_id: str) -> None:
    found = _person(conn, spg_id)
    if found is None:
        raise GalleryAdminError(f"no SPG {spg_id!r} in the central gallery; 'app.py hq gallery list' shows them")
    if found[1]:
        raise GalleryAdminError(f"SPG {spg_id!r} was removed; enroll the person again under a new id")


def assign(conn: psycopg.Connection[Any], spg_id: str, outlet_id: str) -> bool:
    """Make the SPG available at the outlet (it pulls them at its next sync). False: already assigned."""
    with conn.transaction():
        _require_live(conn, spg_id)
        if conn.execute("SELECT 1 FROM spg.outlets WHERE outlet_id = %s", (outlet_id,)).fetchone() is None:
            raise GalleryAdminError(f"no outlet {outlet_id!r}; 'app.py hq outlets' lists them, "
                                    "'app.py hq add-outlet' registers one")
        row = conn.execute("INSERT INTO spg.gallery_assignments (spg_id, outlet_id) VALUES (%s, %s) "
                           "ON CONFLICT DO NOTHING RETURNING spg_id", (spg_id, outlet_id)).fetchone()
    return row is not None


def unassign(conn: psycopg.Connection[Any], spg_id: str, outlet_id: str) -> None:
    """Take the SPG away from the outlet: it erases their face data at its next sync."""
    with conn.transaction():
        _require_live(conn, spg_id)
        gone = conn.execute("DELETE FROM spg.gallery_assignments WHERE spg_id = %s AND outlet_id = %s",
                            (spg_id, outlet_id)).rowcount
    if not gone:
        raise GalleryAdminError(f"SPG {spg_id!r} is not assigned to outlet {outlet_id!r}")


def remove(conn: psycopg.Connection[Any], spg_id: str) -> list[str]:
    """Remove the SPG brand-wide: samples deleted now, a tombstone kept. Returns the outlets that will erase
    the SPG's face data at their next sync (assigned ones, and the one that enrolled them)."""
    with conn.transaction():
        found = _person(conn, spg_id)
        if found is None:
            raise GalleryAdminError(f"no SPG {spg_id!r} in the central gallery; 'app.py hq gallery list' shows them")
        conn.execute("DELETE FROM spg.gallery_samples WHERE spg_id = %s", (spg_id,))
        row = conn.execute("UPDATE spg.gallery_people SET removed = true WHERE spg_id = %s RETURNING origin_outlet",
                           (spg_id,)).fetchone()
        outlets = {str(r[0]) for r in conn.execute(
            "SELECT outlet_id FROM spg.gallery_assignments WHERE spg_id = %s", (spg_id,)).fetchall()}
    if row and row[0]:
        outlets.add(str(row[0]))
    return sorted(outlets)


def enroll(conn: psycopg.Connection[Any], spg_id: str, name: str, samples: list[CentralSample]) -> None:
    """An SPG enrolled at HQ (no origin outlet), or more samples for a shared SPG of that name."""
    if not samples:
        raise GalleryAdminError("no usable photo; nothing was stored")
    with conn.transaction():
        found = _person(conn, spg_id)
        if found is None:
            conn.execute("INSERT INTO spg.gallery_people (spg_id, name) VALUES (%s, %s)", (spg_id, name))
        elif found[1]:
            raise GalleryAdminError(f"SPG {spg_id!r} was removed; enroll the person again under a new id")
        elif found[0] != name:
            raise GalleryAdminError(f"SPG {spg_id!r} is already shared as {found[0]!r}; give that name to add "
                                    "photos to them, or another id for another person")
        for s in samples:
            conn.execute("INSERT INTO spg.gallery_samples (spg_id, sample_id, model_id, embedding, photo, bbox) "
                         "VALUES (%s, %s, %s, %s, %s, %s)",
                         (spg_id, s.sample_id, s.model_id, np.asarray(s.embedding, "<f4").tobytes(), s.photo,
                          s.bbox or None))
