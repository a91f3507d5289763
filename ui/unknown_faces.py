"""Unknown faces panel: recent faces that matched nobody, kept for the retention period, from which the
supervisor enrolls an SPG (select one or more crops -> "Enroll as SPG…").

Saving and retention are pure logic in :mod:`core.unknown_faces` (the controller calls its
``UnknownFaceKeeper`` in the router loop); this panel lists the folder in the background.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from core.config import StorageConfig
from core.unknown_faces import UnknownCrop, list_unknown
from ui.tasks import Background

log = logging.getLogger(__name__)


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
