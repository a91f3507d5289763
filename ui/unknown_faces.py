"""Unknown faces: recent faces that matched nobody, kept for the retention period, shown as a panel
from which the supervisor enrolls an SPG (select one or more crops -> "Enroll as SPG…").

:class:`UnknownFaceKeeper` (no Qt) saves at most one crop per camera track into
``<data_dir>/unknown/`` and enforces the retention (days and count); the controller calls it in the
router loop. :class:`UnknownFacesPanel` lists the folder in the background.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from core.config import StorageConfig
from core.image_io import write_image
from core.messages import FrameResult
from ui.tasks import Background

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UnknownCrop:
    path: Path
    timestamp: float
    camera_id: str


def list_unknown(folder: Path, storage: StorageConfig, now: float | None = None) -> list[UnknownCrop]:
    """Crops within retention, newest first, at most ``unknown_max``."""
    now = now if now is not None else time.time()
    limit = now - storage.unknown_retention_days * 86400
    out: list[UnknownCrop] = []
    if not folder.is_dir():
        return out
    for p in folder.glob("*.jpg"):
        try:
            ts = p.stat().st_mtime
        except OSError:
            continue
        if ts >= limit:
            cam = p.stem.split("__")[0] if "__" in p.stem else ""
            out.append(UnknownCrop(p, ts, cam))
    out.sort(key=lambda c: c.timestamp, reverse=True)
    return out[: storage.unknown_max]


def prune_unknown(folder: Path, storage: StorageConfig, now: float | None = None) -> int:
    """Delete crops older than the retention or beyond ``unknown_max``; returns how many."""
    now = now if now is not None else time.time()
    keep = {c.path for c in list_unknown(folder, storage, now)}
    removed = 0
    if folder.is_dir():
        for p in folder.glob("*.jpg"):
            if p not in keep:
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


class UnknownFaceKeeper:
    """Saves one crop per (camera, track) of faces that matched nobody. Runs in the controller thread.

    A track is kept only after it stayed unknown for ``min_results`` results in a row (identities are
    voted over a few frames, so an SPG is "unknown" for a moment when they appear); a track that was
    ever identified is never kept.
    """

    def __init__(self, folder: Path, storage: StorageConfig, min_face_px: int = 48, min_results: int = 5):
        self.folder = Path(folder)
        self.storage = storage
        self.min_face_px = min_face_px
        self.min_results = min_results
        self._seen: dict[tuple[str, int], float] = {}
        self._unknown_runs: dict[tuple[str, int], int] = {}
        self._last_prune = 0.0
        self.saved = 0

    def wanted(self, result: FrameResult) -> list[Any]:
        if self.storage.unknown_retention_days <= 0 or self.storage.unknown_max <= 0:
            return []
        out = []
        for f in result.faces:
            key = (result.camera_id, f.track_id)
            if f.spg_id is not None:
                self._seen[key] = result.timestamp  # identified: never an unknown face
                continue
            if key in self._seen or not f.matchable or (f.bbox[2] - f.bbox[0]) < self.min_face_px:
                continue
            n = self._unknown_runs.get(key, 0) + 1
            self._unknown_runs[key] = n
            if n >= self.min_results:
                out.append(f)
        return out

    def save(self, result: FrameResult, frame: np.ndarray, faces: list[Any]) -> list[Path]:
        """frame: the stored (possibly downscaled) BGR frame; boxes are scaled from original coords."""
        oh, ow = result.frame_shape
        h, w = frame.shape[:2]
        sx, sy = w / max(ow, 1), h / max(oh, 1)
        saved = []
        self.folder.mkdir(parents=True, exist_ok=True)
        for f in faces:
            self._seen[(result.camera_id, f.track_id)] = result.timestamp
            x1, y1, x2, y2 = f.bbox
            pad = 0.3 * (x2 - x1)
            a, b = int(max(0, (x1 - pad) * sx)), int(max(0, (y1 - pad) * sy))
            c, d = int(min(w, (x2 + pad) * sx)), int(min(h, (y2 + pad) * sy))
            if c - a < 8 or d - b < 8:
                continue
            stamp = datetime.fromtimestamp(result.timestamp).strftime("%Y%m%d_%H%M%S")
            p = self.folder / f"{result.camera_id}__{stamp}_{f.track_id}.jpg"
            if write_image(p, frame[b:d, a:c]):  # any path (cv2.imwrite fails on non-ASCII paths on Windows)
                saved.append(p)
                self.saved += 1
        if len(self._seen) > 5000:
            for k in sorted(self._seen, key=self._seen.get)[:2500]:
                del self._seen[k]
        if len(self._unknown_runs) > 5000:
            self._unknown_runs.clear()
        now = time.time()
        if now - self._last_prune > 60:
            self._last_prune = now
            prune_unknown(self.folder, self.storage, now)
        return saved


class UnknownFacesPanel(QWidget):
    enroll_requested = Signal(object)  # list[Path]

    def __init__(self, folder: Path, storage: StorageConfig, parent: QWidget | None = None, refresh_ms: int = 5000):
        super().__init__(parent)
        self.folder, self.storage = Path(folder), storage
        self._bg = Background(workers=1, parent=self, name="spg-unknown")
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(96, 96))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.enroll_btn = QPushButton(self.tr("Enroll as SPG…"))
        self.enroll_btn.clicked.connect(self._enroll)
        self.delete_btn = QPushButton(self.tr("Delete"))
        self.delete_btn.clicked.connect(self._delete)
        self.info = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.enroll_btn)
        row.addWidget(self.delete_btn)
        row.addStretch(1)
        row.addWidget(self.info)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel(self.tr("Faces that matched nobody (kept {days} days). Select one or more of the same person to enroll them.").format(days=storage.unknown_retention_days)))
        lay.addWidget(self.list)
        lay.addLayout(row)
        self.crops: list[UnknownCrop] = []
        self._images: dict[Path, QImage] = {}
        self._timer = QTimer(self, interval=refresh_ms, timeout=self.refresh)
        self._timer.start()
        self.refresh()

    def refresh(self) -> None:
        if not self.isVisible():
            return  # scanned when shown (showEvent) and every few seconds while visible
        known = set(self._images)

        def scan():
            crops = list_unknown(self.folder, self.storage)
            images = {}
            for c in crops:  # decode and shrink the new crops here, off the UI thread
                if c.path not in known:
                    img = QImage(str(c.path))
                    if not img.isNull():
                        images[c.path] = img.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation)
            return crops, images

        self._bg.submit(scan, lambda res: self._show(*res))

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def _show(self, crops: list[UnknownCrop], images: dict | None = None) -> None:
        self._images.update(images or {})
        if [c.path for c in crops] == [c.path for c in self.crops]:
            return
        selected = {Path(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()}
        self.crops = crops
        keep = {c.path for c in crops}
        self._images = {p: img for p, img in self._images.items() if p in keep}
        self.list.clear()
        for c in crops:
            label = datetime.fromtimestamp(c.timestamp).strftime("%H:%M:%S")
            img = self._images.get(c.path)
            icon = QIcon(QPixmap.fromImage(img)) if img is not None else QIcon()
            item = QListWidgetItem(icon, f"{label}\n{c.camera_id}")
            item.setData(Qt.ItemDataRole.UserRole, str(c.path))
            self.list.addItem(item)
            if c.path in selected:
                item.setSelected(True)
        self.info.setText(self.tr("{n} unknown face(s)").format(n=len(crops)))

    def selected_paths(self) -> list[Path]:
        return [Path(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()]

    def _enroll(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.enroll_requested.emit(paths)
        else:
            self.info.setText(self.tr("Select at least one face first."))

    def _delete(self) -> None:
        paths = self.selected_paths()

        def job() -> None:
            for p in paths:
                p.unlink(missing_ok=True)

        self._bg.submit(job, lambda _r: self.refresh())

    def set_storage(self, storage: StorageConfig) -> None:
        self.storage = storage
        self.refresh()
