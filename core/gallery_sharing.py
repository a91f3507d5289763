"""Gallery sharing for one outlet's data folder: :class:`core.central.gallery_sync.GallerySync` bound to the
folder's gallery, to :func:`core.forget_spg.forget_spg` (gallery + the events database's alert photos) and to
the configured face engine, built on first need.

This binding lives outside ``core.central`` because the events database queues for the central database
(``core.events_db`` imports ``core.central``): the central package must not import it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.central.gallery_sync import GallerySync
from core.forget_spg import forget_spg
from core.gallery import Gallery
from core.paths import DataLayout

if TYPE_CHECKING:
    from core.config import AppConfig
    from core.engine.base import FaceEngine


def gallery_sync_for(data_dir: Path, *, engine: FaceEngine | None = None,
                     engine_factory: Callable[[], FaceEngine] | None = None,
                     model_id: str | None = None) -> GallerySync:
    """The data folder's gallery sharing; ``engine`` / ``engine_factory`` / ``model_id`` as in GallerySync."""
    layout = DataLayout(Path(data_dir))
    gallery = Gallery(layout.gallery)

    def erase(spg_id: str) -> None:
        forget_spg(gallery, spg_id, layout.events_db)

    return GallerySync(gallery, erase, engine=engine, engine_factory=engine_factory, model_id=model_id)


def gallery_sync_from_config(cfg: AppConfig, data_dir: Path | None = None) -> GallerySync:
    """What the replicator gets when ``central.share_gallery`` is on: the data folder (default: the config's)
    and the configured engine, built the first time an SPG is pulled, in the replicator's thread and used by
    it alone (an outlet's main process has no engine of its own; most syncs pull nothing)."""
    from core.engine.factory import create_engine

    root = Path(data_dir) if data_dir is not None else cfg.resolved_data_dir()
    return gallery_sync_for(root, engine_factory=lambda: create_engine(cfg.engine, root))
