"""Gallery manager: enrolled SPGs with face thumbnails and sample counts; add, rename, deactivate,
delete (with confirmation) and re-index with progress. Disk and engine work runs in the background.

Gallery quality: the look-alike pairs (SPGs the matcher will confuse, :mod:`core.lookalikes`) and the
selected SPG's negative samples ("not this person", reversible here with "Allow again"). Marking a
face as "not X" from the console (a tile's face, the unknown-faces panel) goes through
:meth:`GalleryManager.mark_not_person`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.config import AppConfig
from core.engine.calibration import resolve_threshold
from core.forget_spg import forget_spg
from core.gallery import Person, ReindexReport
from core.identify import embed_face_crop
from core.image_io import read_image
from core.lookalikes import Lookalike, gallery_lookalikes, gallery_model
from core.unknown_faces import load_embedding
from ui.engine_service import EngineService
from ui.enroll_dialogs import PhotoEnrollDialog, WebcamEnrollDialog
from ui.tasks import Background

log = logging.getLogger(__name__)


def person_fields(p: Person) -> dict:
    """The gallery table's fields of one SPG: spg_id, name, samples, active."""
    return {"spg_id": p.spg_id, "name": p.name or p.spg_id, "samples": p.sample_count, "active": p.active}


def list_people(gallery: Any) -> list[dict]:
    out = []
    for p in gallery.people():
        f = person_fields(p)
        try:
            tp = gallery.thumbnail_path(f["spg_id"])
            f["thumb"] = str(tp) if tp and Path(tp).is_file() else ""
        except Exception:  # noqa: BLE001
            f["thumb"] = ""
        out.append(f)
    return sorted(out, key=lambda f: f["name"].lower())


class GalleryManager(QWidget):
    changed = Signal()  # the gallery on disk changed (controller reloads, table refreshes)
    _progress = Signal(int, int)

    def __init__(self, gallery: Any, engine: EngineService, cfg: AppConfig, parent: QWidget | None = None,
                 webcam_sources: Callable[[], list] | None = None):
        super().__init__(parent)
        self.gallery, self.engine, self.cfg = gallery, engine, cfg
        self._webcam_sources = webcam_sources or (list)
        self._bg = Background(workers=1, parent=self, name="spg-gallery")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([self.tr("Photo"), self.tr("Name"), self.tr("Samples"), self.tr("Active")])
        self.table.setIconSize(QSize(48, 48))
        self.table.verticalHeader().setDefaultSectionSize(52)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.add_btn = QPushButton(self.tr("Add from photos…"))
        self.webcam_btn = QPushButton(self.tr("Enroll from camera…"))
        self.rename_btn = QPushButton(self.tr("Rename…"))
        self.active_btn = QPushButton(self.tr("Deactivate"))
        self.delete_btn = QPushButton(self.tr("Delete…"))
        self.reindex_btn = QPushButton(self.tr("Re-index"))
        self.add_btn.clicked.connect(self.open_photo_dialog)
        self.webcam_btn.clicked.connect(self.open_webcam_dialog)
        self.rename_btn.clicked.connect(self.rename_selected)
        self.active_btn.clicked.connect(self.toggle_active_selected)
        self.delete_btn.clicked.connect(self.delete_selected)
        self.reindex_btn.clicked.connect(self.reindex)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemSelectionChanged.connect(self._show_negatives)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.add_btn, self.webcam_btn, self.rename_btn, self.active_btn, self.delete_btn, self.reindex_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.table)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        quality = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        self.lookalike_label = QLabel(self.tr("Look-alikes (these SPGs may be confused with each other):"))
        self.lookalike_list = QListWidget()
        self.lookalike_list.setMaximumHeight(110)
        left.addWidget(self.lookalike_label)
        left.addWidget(self.lookalike_list)
        self.negatives_label = QLabel(self.tr("Not this person: faces marked as not the selected SPG"))
        self.negatives_list = QListWidget()
        self.negatives_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.negatives_list.setIconSize(QSize(56, 56))
        self.negatives_list.setMaximumHeight(110)
        self.allow_btn = QPushButton(self.tr("Allow again"))
        self.allow_btn.setToolTip(self.tr("Remove the selected mark: this face may be named as the SPG again."))
        self.allow_btn.clicked.connect(self.remove_selected_negative)
        right.addWidget(self.negatives_label)
        right.addWidget(self.negatives_list)
        right.addWidget(self.allow_btn)
        quality.addLayout(left, 1)
        quality.addLayout(right, 1)
        lay.addLayout(quality)
        self.lookalikes: list[Lookalike] = []
        self.negatives: list[Any] = []
        self.people: list[dict] = []
        self.dialog: QWidget | None = None
        self._message = ""
        self._progress.connect(self._set_progress)
        self.refresh()

    # --- listing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._bg.submit(lambda: list_people(self.gallery), self._show_people,
                        lambda e: self.status.setText(self.tr("Cannot read the gallery: {err}").format(err=e)))
        self._bg.submit(self._find_lookalikes, self._show_lookalikes,
                        lambda e: log.warning("look-alike check failed: %s", e))

    # --- gallery quality -----------------------------------------------------------------------
    def _find_lookalikes(self) -> list[Lookalike]:
        """Judged with the loaded engine's model and thresholds, else the gallery's own model and its
        calibrated thresholds: the check never loads an engine by itself."""
        engine = self.engine.loaded
        info = engine.info if engine is not None else None
        model_id = gallery_model(self.gallery, info.model_id if info is not None else None)
        if model_id is None:
            return []
        if info is not None and info.model_id == model_id:
            threshold, margin = info.threshold, info.margin
        else:
            threshold, margin = resolve_threshold(model_id, self.cfg.engine.threshold, self.cfg.engine.margin)
        return gallery_lookalikes(self.gallery, model_id, threshold, margin)

    def _show_lookalikes(self, pairs: list[Lookalike]) -> None:
        self.lookalikes = pairs
        names = self.gallery.names()
        self.lookalike_list.clear()
        for p in pairs:
            self.lookalike_list.addItem(self.tr("{a} and {b} look alike (similarity {sim:.2f}): add more photos of each, "
                                                "or check they are not the same person").format(
                a=names.get(p.spg_a, p.spg_a), b=names.get(p.spg_b, p.spg_b), sim=p.similarity))
        if not pairs:
            self.lookalike_list.addItem(self.tr("No look-alike SPGs."))

    def lookalike_texts(self) -> list[str]:
        return [self.lookalike_list.item(i).text() for i in range(self.lookalike_list.count())]

    def _show_negatives(self) -> None:
        p = self.selected()
        spg_id = p["spg_id"] if p else None
        self.negatives = self.gallery.negatives(spg_id) if spg_id else []
        self.negatives_list.clear()
        for n in self.negatives:
            path = self.gallery.negative_crop_path(spg_id, n)
            item = QListWidgetItem(QIcon(QPixmap(str(path))) if path else QIcon(), n.added[:16].replace("T", " "))
            item.setData(Qt.ItemDataRole.UserRole, n.id)
            self.negatives_list.addItem(item)
        self.negatives_label.setText(
            self.tr("Not {name}: {n} face(s) marked").format(name=p["name"], n=len(self.negatives)) if p
            else self.tr("Not this person: faces marked as not the selected SPG"))
        self.allow_btn.setEnabled(bool(self.negatives))

    def remove_selected_negative(self) -> None:
        p = self.selected()
        items = self.negatives_list.selectedItems()
        if p is None or not items:
            self.status.setText(self.tr("Select a marked face first."))
            return
        ids = [i.data(Qt.ItemDataRole.UserRole) for i in items]

        def job() -> None:
            for nid in ids:
                self.gallery.remove_negative(p["spg_id"], nid)

        self._bg.submit(job, lambda _r: self._after_change(
            self.tr("{name} may be recognised in those faces again.").format(name=p["name"])), self._error)

    def mark_not_person(self, spg_id: str, crops: Sequence[np.ndarray | Path], source: str = "camera") -> None:
        """The supervisor says these faces are NOT ``spg_id``: each becomes a negative sample of theirs.
        A crop file's stored embedding is used when it is of the current model, else it is computed."""
        name = self.gallery.names().get(spg_id, spg_id)

        def job(engine: Any) -> int:
            done = 0
            for c in crops:
                img = read_image(c) if isinstance(c, Path) else c
                if img is None:
                    continue
                emb = load_embedding(c, engine.info.model_id) if isinstance(c, Path) else None
                if emb is None:
                    found = embed_face_crop(engine, img)
                    if found is None:
                        continue
                    emb = found[0]
                self.gallery.add_negative(spg_id, emb, engine.info.model_id, img, source=source)
                done += 1
            if not done:
                raise ValueError(self.tr("no face could be found in that picture"))
            return done

        self.engine.run(job, lambda n: self._after_change(
            self.tr("{n} face(s) will no longer be recognised as {name}.").format(n=n, name=name)), self._error)

    def _show_people(self, people: list[dict]) -> None:
        self.people = people
        self.table.setRowCount(len(people))
        for row, p in enumerate(people):
            icon_item = QTableWidgetItem()
            if p["thumb"]:
                icon_item.setIcon(QIcon(QPixmap(p["thumb"])))
            icon_item.setData(Qt.ItemDataRole.UserRole, p["spg_id"])
            self.table.setItem(row, 0, icon_item)
            name = QTableWidgetItem(p["name"])
            name.setToolTip(p["spg_id"])
            self.table.setItem(row, 1, name)
            self.table.setItem(row, 2, QTableWidgetItem(str(p["samples"])))
            self.table.setItem(row, 3, QTableWidgetItem(self.tr("yes") if p["active"] else self.tr("no")))
        self.table.resizeColumnsToContents()
        self._update_buttons()
        self._show_negatives()
        count = self.tr("{n} SPG(s) enrolled.").format(n=len(people))
        self.status.setText(f"{self._message}  {count}" if self._message else count)
        self._message = ""

    def names(self) -> list[str]:
        return [p["name"] for p in self.people]

    def selected(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.people[rows[0].row()] if rows[0].row() < len(self.people) else None

    def select(self, spg_id: str) -> bool:
        for i, p in enumerate(self.people):
            if p["spg_id"] == spg_id:
                self.table.selectRow(i)
                return True
        return False

    def _update_buttons(self) -> None:
        p = self.selected()
        for b in (self.rename_btn, self.active_btn, self.delete_btn):
            b.setEnabled(p is not None)
        self.active_btn.setText(self.tr("Activate") if p and not p["active"] else self.tr("Deactivate"))

    def _after_change(self, message: str = "") -> None:
        self._message = message
        self.refresh()
        self.changed.emit()

    def _error(self, exc: BaseException) -> None:
        self.progress.setVisible(False)
        self.status.setText(self.tr("Could not change the gallery: {err}").format(err=exc))

    # --- actions -------------------------------------------------------------------------------
    def open_photo_dialog(self, photos=(), name: str = "") -> QWidget:
        p = self.selected() if not name and not photos else None
        dlg = PhotoEnrollDialog(self.engine, self.gallery, self, spg_id=p["spg_id"] if p else "",
                                name=p["name"] if p else name, photos=photos)
        dlg.enrolled.connect(lambda _sid: self._after_change())
        self.dialog = dlg
        dlg.setModal(False)
        dlg.show()
        return dlg

    def open_webcam_dialog(self) -> QWidget:
        dlg = WebcamEnrollDialog(self.engine, self.gallery, self.cfg, self, extra_sources=self._webcam_sources())
        dlg.enrolled.connect(lambda _sid: self._after_change())
        self.dialog = dlg
        dlg.show()
        return dlg

    def rename_selected(self, new_name: str | None = None) -> None:
        p = self.selected()
        if p is None:
            return
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, self.tr("Rename SPG"), self.tr("New name:"), text=p["name"])
            if not ok:
                return
        new_name = new_name.strip()
        if not new_name:
            self.status.setText(self.tr("A name cannot be empty."))
            return
        self._bg.submit(lambda: self.gallery.rename(p["spg_id"], new_name),
                        lambda _r: self._after_change(self.tr("Renamed to {name}.").format(name=new_name)), self._error)

    def toggle_active_selected(self) -> None:
        p = self.selected()
        if p is None:
            return
        active = not p["active"]
        self._bg.submit(lambda: self.gallery.set_active(p["spg_id"], active),
                        lambda _r: self._after_change(), self._error)

    def delete_selected(self, confirm: bool = True) -> bool:
        p = self.selected()
        if p is None:
            return False
        if confirm:
            answer = QMessageBox.question(
                self, self.tr("Delete SPG"),
                self.tr("Delete {name} and all their face photos from the gallery? This cannot be undone.").format(name=p["name"]),
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self._bg.submit(lambda: forget_spg(self.gallery, p["spg_id"]),
                        lambda _r: self._after_change(self.tr("{name} deleted.").format(name=p["name"])), self._error)
        return True

    def reindex(self) -> None:
        """Re-embed every sample with the current engine (after a model pack change), with progress."""
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.reindex_btn.setEnabled(False)
        self.status.setText(self.tr("Re-indexing the gallery with the current face model…"))

        def job(engine: Any) -> Any:
            from core.enrollment import reindex

            return reindex(engine, self.gallery, progress=self._progress_cb, force=True)

        def done(report: ReindexReport) -> None:
            self.progress.setVisible(False)
            self.reindex_btn.setEnabled(True)
            failed = report.failed
            msg = self.tr("Re-index finished: {n} photo(s).").format(n=report.done)
            if failed:
                msg += " " + self.tr("{n} could not be re-indexed: {which}").format(n=len(failed), which="; ".join(failed[:3]))
            self._after_change(msg)

        def fail(exc: BaseException) -> None:
            self.reindex_btn.setEnabled(True)
            self._error(exc)

        self.engine.run(job, done, fail)

    def _progress_cb(self, done: int, total: int) -> None:
        self._progress.emit(done, total)  # engine thread -> queued to the UI thread

    def _set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
