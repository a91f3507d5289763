"""Remove an SPG's biometric data everywhere it is kept.

Faces are personal data: removing an SPG deletes every photo, aligned crop and embedding in the gallery
(``Gallery.remove``) and the face photos attached to their alerts in the events database. Attendance
records (hits, transitions, intervals, alert texts) stay: they are the outlet's attendance history.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.gallery import Gallery, GalleryError
from core.paths import DataLayout

log = logging.getLogger(__name__)


def forget_spg(gallery: Gallery, spg_id: str, events_db: Path | None = None) -> None:
    """``events_db`` defaults to the one in the gallery's data dir (``<data_dir>/gallery`` -> ``<data_dir>/events.db``)."""
    gallery.remove(spg_id)
    db = events_db or DataLayout(Path(gallery.root).parent).events_db
    if not db.exists():
        return
    from core.events_backend import EventStoreError
    from core.events_db import EventStore

    try:
        store = EventStore(db)
        try:
            dropped = store.forget_face_photos(spg_id)
            store.forget_presence(spg_id)  # no alert left to send, no state to resume for them
        finally:
            store.close()
    except EventStoreError as exc:
        raise GalleryError(f"{spg_id} was removed from the gallery, but the face photos of their alerts are still "
                           f"in the events database: {exc}") from None
    if dropped:
        log.info("removed %d alert face photo(s) of %s from the events database", dropped, spg_id)
