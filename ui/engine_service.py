"""The console's own face engine (for enrollment and the webcam preview), loaded off the UI thread.

The camera pipeline has its own engine in the inference process; this one serves the dialogs. It is
created on first use in a background thread and used under a lock (engines are not thread-safe).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject

from core.config import AppConfig
from core.engine.base import FaceEngine
from ui.tasks import Background

log = logging.getLogger(__name__)

EngineFactory = Callable[[AppConfig, Path], FaceEngine]


def default_engine_factory(cfg: AppConfig, data_dir: Path) -> FaceEngine:
    from core.engine.factory import create_engine

    return create_engine(cfg.engine, data_dir)


class EngineService(QObject):
    def __init__(self, cfg: AppConfig, data_dir: Path, factory: EngineFactory | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self._factory = factory or default_engine_factory
        self._engine: FaceEngine | None = None
        self._load_lock = threading.Lock()
        self.lock = threading.RLock()
        """Hold while calling the engine from any thread."""
        self._bg = Background(workers=1, parent=self, name="spg-engine")

    def set_config(self, cfg: AppConfig) -> None:
        if cfg.engine != self.cfg.engine:
            with self._load_lock:
                self._engine = None
        self.cfg = cfg

    def engine_blocking(self) -> FaceEngine:
        """The engine, loading it if needed. NEVER call on the UI thread."""
        with self._load_lock:
            if self._engine is None:
                log.info("loading face engine for enrollment (%s, pack %s)", self.cfg.engine.kind, self.cfg.engine.pack)
                self._engine = self._factory(self.cfg, self.data_dir)
            return self._engine

    @property
    def loaded(self) -> FaceEngine | None:
        return self._engine

    def run(self, fn: Callable[[Any], Any], on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None):
        """Run ``fn(engine)`` on the engine thread; callbacks on the UI thread."""

        def job() -> Any:
            engine = self.engine_blocking()
            with self.lock:
                return fn(engine)

        return self._bg.submit(job, on_done, on_error)

    def shutdown(self) -> None:
        self._bg.shutdown(wait=False)
