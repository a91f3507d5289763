"""Unknown faces panel: recent faces that matched nobody, kept for the retention period, grouped into
anonymous visitors ("Visitor 12 · seen 5 times today · 3 crops"). The supervisor enrolls an SPG from a whole
visitor (or single crops) at once, says "this is not <SPG>", or deletes them.

Saving and retention are pure logic in :mod:`core.unknown_faces` (the router calls its
``UnknownFaceKeeper``); grouping is :mod:`core.visitors`. This panel lists the folder in the background
and, with the dialogs' engine, embeds each crop that has no stored embedding yet (once: the embedding is
kept beside the crop and deleted with it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.config import StorageConfig
from core.identify import embed_face_crop
from core.image_io import read_image
from core.unknown_faces import UnknownCrop, delete_unknown, list_unknown, load_embedding, store_embedding
from core.visitors import Sighting, Visitor, group_visitors
from ui.tasks import Background

log = logging.getLogger(__name__)


def embed_missing(engine: Any, crops: list[UnknownCrop]) -> dict[Path, np.ndarray]:
    """Stored embeddings of the crops for the engine's model, computing (and storing) the missing ones.
    Runs on the engine thread. A crop whose face cannot be found again stays without one."""
    model_id = engine.info.model_id
    out: dict[Path, np.ndarray] = {}
    for c in crops:
        emb = load_embedding(c.path, model_id)
        if emb is None:
            img = read_image(c.path)
            found = embed_face_crop(engine, img) if img is not None else None
            if found is None:
                continue
            emb = found[0]
            if c.path.exists():  # retention may have deleted it meanwhile: never recreate its embedding
                store_embedding(c.path, model_id, emb)
        out[c.path] = emb
    return out


class UnknownFacesPanel(QWidget):
    enroll_requested = Signal(object)  # list[Path]
    not_person_requested = Signal(str, object)  # spg_id, list[Path]: handled by the gallery manager

    def __init__(self, folder: Path, storage: StorageConfig, parent: QWidget | None = None, refresh_ms: int = 5000,
                 engine: Any = None, names: Callable[[], dict[str, str]] | None = None):
        super().__init__(parent)
        self.folder, self.storage = Path(folder), storage
        self.engine = engine
        """The dialogs' EngineService (embeds crops for grouping); None: every crop is shown on its own."""
        self._names = names or (dict)
        self.tz = None
        """Outlet time zone for "seen today" (zoneinfo); None = this PC's."""
        self._bg = Background(workers=1, parent=self, name="spg-unknown")
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(96, 96))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.group_box = QCheckBox(self.tr("Group into visitors"))
        self.group_box.setChecked(True)
        self.group_box.toggled.connect(lambda _on: self._render())
        self.enroll_btn = QPushButton(self.tr("Enroll as SPG…"))
        self.enroll_btn.clicked.connect(self._enroll)
        self.not_btn = QPushButton(self.tr("Not this SPG…"))
        self.not_btn.setToolTip(self.tr("Tell the console these faces are NOT a certain SPG, so it never names them so."))
        self.not_btn.clicked.connect(lambda: self.mark_not_person())
        self.delete_btn = QPushButton(self.tr("Delete"))
        self.delete_btn.clicked.connect(self._delete)
        self.info = QLabel()
        row = QHBoxLayout()
        for w in (self.enroll_btn, self.not_btn, self.delete_btn, self.group_box):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.info)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel(self.tr("Faces that matched nobody (kept {days} days), grouped by person. Select a visitor "
                                     "or faces of the same person to enroll them.").format(days=storage.unknown_retention_days)))
        lay.addWidget(self.list)
        lay.addLayout(row)
        self.crops: list[UnknownCrop] = []
        self.visitors: list[Visitor] = []
        self._embeddings: dict[Path, np.ndarray] = {}
        self._threshold = 1.0
        self._images: dict[Path, QImage] = {}
        self._embedding_busy = False
        self._tried: set[Path] = set()
        self._timer = QTimer(self, interval=refresh_ms, timeout=self.refresh)
        self._timer.start()
        self.refresh()

    # --- scanning ------------------------------------------------------------------------------
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

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def _show(self, crops: list[UnknownCrop], images: dict | None = None) -> None:
        self._images.update(images or {})
        changed = [c.path for c in crops] != [c.path for c in self.crops]
        self.crops = crops
        keep = {c.path for c in crops}
        self._images = {p: img for p, img in self._images.items() if p in keep}
        self._embeddings = {p: e for p, e in self._embeddings.items() if p in keep}
        self._tried &= keep
        if changed:
            self._render()
        missing = [c for c in crops if c.path not in self._embeddings and c.path not in self._tried]
        if missing and self.engine is not None and not self._embedding_busy:
            self._embedding_busy = True
            self._tried.update(c.path for c in missing)  # a crop without a face (or a failed engine): once

            def job(engine: Any) -> tuple[float, dict[Path, np.ndarray]]:
                return float(engine.info.threshold), embed_missing(engine, missing)

            self.engine.run(job, self._embedded, self._embed_failed)

    def _embedded(self, res: tuple[float, dict[Path, np.ndarray]]) -> None:
        self._embedding_busy = False
        self._threshold, found = res
        keep = {c.path for c in self.crops}
        self._embeddings.update({p: e for p, e in found.items() if p in keep})
        self._render()

    def _embed_failed(self, exc: BaseException) -> None:
        self._embedding_busy = False
        log.warning("unknown faces: could not embed crops for grouping (%s); shown one by one", exc)

    # --- showing -------------------------------------------------------------------------------
    def _render(self) -> None:
        selected = {tuple(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()}
        sightings = [Sighting(c.path, c.timestamp, c.camera_id, self._embeddings.get(c.path)) for c in self.crops]
        self.visitors = group_visitors(sightings, self._threshold)
        self.list.clear()
        now = time.time()
        groups = self.visitors if self.group_box.isChecked() else [Visitor(0, [s]) for s in
                                                                    sorted(sightings, key=lambda s: -s.timestamp)]
        for v in groups:
            newest = v.sightings[-1]
            img = self._images.get(newest.path)
            icon = QIcon(QPixmap.fromImage(img)) if img is not None else QIcon()
            when = datetime.fromtimestamp(newest.timestamp, self.tz).strftime("%H:%M:%S")
            if v.number and len(v.sightings) > 1:
                text = self.tr("Visitor {n}\nseen {today} times today · {crops} crops").format(
                    n=v.number, today=v.seen_on(now, self.tz), crops=len(v.sightings))
                if v.repeat:
                    text += "\n" + self.tr("repeat visitor")
            else:
                text = f"{when}\n{newest.camera_id}"
            item = QListWidgetItem(icon, text)
            item.setToolTip(", ".join(v.cameras))
            key = tuple(str(p) for p in v.crops)
            item.setData(Qt.ItemDataRole.UserRole, list(key))
            self.list.addItem(item)
            if key in selected:
                item.setSelected(True)
        grouped = sum(1 for v in self.visitors if len(v.sightings) > 1)
        self.info.setText(self.tr("{n} unknown face(s), {v} visitor(s) seen more than once").format(
            n=len(self.crops), v=grouped))

    def selected_paths(self) -> list[Path]:
        """Every crop of the selected items (a visitor stands for all its crops)."""
        return [Path(p) for i in self.list.selectedItems() for p in i.data(Qt.ItemDataRole.UserRole)]

    def select_visitor(self, number: int) -> bool:
        for i in range(self.list.count()):
            item = self.list.item(i)
            v = next((v for v in self.visitors if [str(p) for p in v.crops] == item.data(Qt.ItemDataRole.UserRole)), None)
            if v is not None and v.number == number:
                item.setSelected(True)
                return True
        return False

    # --- actions -------------------------------------------------------------------------------
    def _enroll(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.enroll_requested.emit(paths)
        else:
            self.info.setText(self.tr("Select at least one face first."))

    def mark_not_person(self, spg_id: str | None = None) -> bool:
        """The selected faces are NOT ``spg_id`` (asked when not given): each becomes a negative sample."""
        paths = self.selected_paths()
        if not paths:
            self.info.setText(self.tr("Select at least one face first."))
            return False
        if spg_id is None:
            names = self._names()
            if not names:
                self.info.setText(self.tr("No SPG is enrolled yet."))
                return False
            labels = [f"{name} ({sid})" for sid, name in sorted(names.items(), key=lambda kv: kv[1].lower())]
            choice, ok = QInputDialog.getItem(self, self.tr("Not this SPG"), self.tr("These faces are not:"), labels, 0, False)
            if not ok:
                return False
            spg_id = sorted(names.items(), key=lambda kv: kv[1].lower())[labels.index(choice)][0]
        self.not_person_requested.emit(spg_id, paths)
        return True

    def _delete(self) -> None:
        paths = self.selected_paths()
        self._bg.submit(lambda: delete_unknown(paths), lambda _r: self.refresh())

    def set_storage(self, storage: StorageConfig) -> None:
        self.storage = storage
        self.refresh()
