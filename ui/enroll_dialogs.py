"""Enrollment dialogs: from photo files (several at once) and from a live camera (webcam dialog).

Enrollment itself (detect -> exactly one usable face -> embed -> gallery) is core.enrollment's job;
these dialogs collect photos, run it on the engine thread and show every rejection in words a
supervisor understands.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, QThread, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.config import AppConfig
from core.engine.base import EngineError
from core.enrollment import EnrollmentError, EnrollReport, Reason
from core.gallery import Gallery
from core.secrets import mask_url
from ui.controller import CameraPreview, array_to_qimage
from ui.engine_service import EngineService
from ui.i18n import translate_buttons

log = logging.getLogger(__name__)

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.bmp *.webp);;All files (*)"


def slug_id(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return (s or "spg")[:32]


def unique_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    i = 2
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"


def gallery_ids(gallery: Gallery) -> set[str]:
    return set(gallery.names())


def reason_texts(widget: QWidget) -> dict[Reason, str]:
    """One sentence per :class:`core.enrollment.Reason`, in the console's language (a test checks all are here)."""
    tr = widget.tr
    unreadable = tr("The file could not be opened as a photo. Use a JPG or PNG picture.")
    return {
        Reason.UNREADABLE: unreadable,
        Reason.NOT_IMAGE: unreadable,
        Reason.TOO_LARGE: tr("The picture is too large (too many pixels). Use a smaller copy of the photo."),
        Reason.NO_FACE: tr("No face was found in the photo. Use a photo where the face is clear and facing the camera."),
        Reason.SEVERAL_FACES: tr("There is more than one face in the photo. Use a photo of this SPG alone."),
        Reason.TOO_SMALL: tr("The face is too small. Move closer to the camera or use a bigger photo."),
        Reason.TOO_BLURRED: tr("The photo is too blurred. Hold still, use good light and try again."),
        Reason.BAD_ID: tr("This SPG id cannot be used: {detail}."),
        Reason.BAD_NAME: tr("Type the SPG's name first."),
        Reason.NO_PHOTOS: tr("Add at least one photo."),
        Reason.EXISTS: tr("This SPG id is already enrolled. Confirm adding the photos to that SPG, or choose another id "
                          "for a new person."),
        Reason.NAME_DIFFERS: tr("Adding photos never renames an SPG: keep their enrolled name, or rename them in the "
                                "Gallery tab."),
        Reason.CANNOT_COMPARE: tr("This SPG's photos were indexed with another face model, so the new photos cannot be "
                                  "checked against them. Re-index the gallery first."),
        Reason.NOT_SAME_PERSON: tr("This face does not match the photos already enrolled for this SPG. Only photos of "
                                   "the same person can be added."),
        Reason.SPOOFED: tr("This face looks like a photo or a screen held up to the camera. The SPG must stand in "
                           "front of the camera in person."),
    }


def error_text(widget: QWidget, exc: BaseException) -> str:
    """An enrollment or engine error in words a supervisor understands (with the photo it concerns)."""
    if isinstance(exc, EnrollmentError):
        # core's own sentence is the detail for reasons whose cause varies (which id rule was broken)
        text = reason_texts(widget)[exc.reason].format(detail=exc.message)
        return f"{Path(exc.photo).name}: {text}" if exc.photo else text
    if isinstance(exc, EngineError):  # ModelPackError too
        return widget.tr("The face engine could not start: {err}").format(err=exc)
    return str(exc) or exc.__class__.__name__


def run_enrollment(engine: Any, gallery: Any, spg_id: str, name: str, photos: Sequence[Any], cfg: AppConfig | None = None,
                   source: str = "photo", add_to_existing: bool = False) -> EnrollReport:
    """Call core.enrollment.enroll_photos (engine thread). Photos: files or camera frames (BGR arrays). Camera
    frames are checked for liveness when ``fraud.liveness`` is on (a photo or a phone held up is refused)."""
    from core.enrollment import enroll_photos
    from core.liveness import liveness_for

    liveness = None
    if cfg is not None and source == "camera" and cfg.fraud.liveness.enabled:
        liveness = liveness_for(cfg.fraud.liveness, cfg.engine, cfg.resolved_data_dir())
    return enroll_photos(engine, gallery, spg_id, name, list(photos), cfg=cfg.engine if cfg else None, source=source,
                         add_to_existing=add_to_existing, liveness=liveness)


def confirm_existing(widget: QWidget, gallery: Any, spg_id: str, name: str) -> tuple[bool, str] | None:
    """(add_to_existing, name to enroll with) for ``spg_id``; None when the user declined to add photos to the
    SPG that already has this id (an id typo must never merge two people, nor rename the enrolled one)."""
    person = gallery.get(spg_id)
    if person is None:
        return False, name
    answer = QMessageBox.question(
        widget, widget.tr("SPG already enrolled"),
        widget.tr("The id {id} already belongs to {name} ({n} photo(s)). Add these photos to {name}?\n\n"
                  "Only photos of the same person are accepted, and the name stays {name}.").format(
            id=spg_id, name=person.name, n=person.sample_count))
    return (True, person.name) if answer == QMessageBox.StandardButton.Yes else None


def describe_result(widget: QWidget, result: EnrollReport, name: str) -> tuple[str, list[str]]:
    """(summary, [problem sentences]) of an enrollment."""
    problems = [f"{Path(label).name}: {error_text(widget, exc)}" if label else error_text(widget, exc)
                for label, exc in result.rejected]
    for other_id, other_name, sim in result.similar:
        problems.append(widget.tr("Warning: this face looks like another SPG already enrolled ({other}, similarity {sim:.2f}). "
                                  "Check you chose the right person.").format(other=other_name or other_id, sim=sim))
    summary = widget.tr("{name} enrolled with {n} photo(s).").format(name=name, n=len(result.added))
    return summary, problems


def _message_and_save_buttons(dialog: QDialog) -> tuple[QLabel, QDialogButtonBox]:
    """The enrollment dialogs' message line and Save / Close buttons (Save calls ``dialog.save``)."""
    message = QLabel()
    message.setWordWrap(True)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
    translate_buttons(buttons)
    buttons.accepted.connect(dialog.save)
    buttons.rejected.connect(dialog.reject)
    return message, buttons


class _NameFields(QWidget):
    def __init__(self, gallery: Any, name: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.gallery = gallery
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText(self.tr("Full name of the SPG"))
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText(self.tr("made from the name"))
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("SPG id"), self.id_edit)

    def values(self) -> tuple[str, str]:
        name = self.name_edit.text().strip()
        spg_id = self.id_edit.text().strip() or unique_id(slug_id(name), gallery_ids(self.gallery))
        return spg_id, name


class PhotoEnrollDialog(QDialog):
    """Enroll (or add photos to) an SPG from photo files; several at once."""

    enrolled = Signal(str)

    def __init__(self, engine: EngineService, gallery: Any, parent: QWidget | None = None,
                 spg_id: str = "", name: str = "", photos: Sequence[str | Path] = ()):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Enroll an SPG from photos"))
        self.engine, self.gallery = engine, gallery
        self.fields = _NameFields(gallery, name)
        if spg_id:
            self.fields.id_edit.setText(spg_id)
        self.photo_list = QListWidget()
        self.photo_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.photo_list.setIconSize(QSize(96, 96))
        self.photo_list.setMinimumHeight(130)
        add = QPushButton(self.tr("Add photos…"))
        add.clicked.connect(self._choose)
        remove = QPushButton(self.tr("Remove selected"))
        remove.clicked.connect(lambda: [self.photo_list.takeItem(self.photo_list.row(i)) for i in self.photo_list.selectedItems()])
        self.message, self.buttons = _message_and_save_buttons(self)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.fields)
        lay.addWidget(QLabel(self.tr("Photos (one face each, several photos give better recognition):")))
        lay.addWidget(self.photo_list)
        lay.addLayout(row)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self.add_photos(photos)
        self.busy = False
        self.last_result: Any = None

    def add_photos(self, paths: Sequence[str | Path]) -> None:
        for p in paths:
            item = QListWidgetItem(QIcon(QPixmap(str(p))), Path(p).name)
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            item.setToolTip(str(p))
            self.photo_list.addItem(item)

    def photos(self) -> list[str]:
        return [self.photo_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.photo_list.count())]

    def _choose(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, self.tr("Choose photos of the SPG"), "", PHOTO_FILTER)
        self.add_photos(files)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c0392b;" if error else "color: #1e8449;")
        self.message.setText(text)

    def save(self) -> None:
        spg_id, name = self.fields.values()
        photos = self.photos()
        if not name:
            self.show_message(self.tr("Type the SPG's name first."), error=True)
            return
        if not photos:
            self.show_message(self.tr("Add at least one photo."), error=True)
            return
        confirmed = confirm_existing(self, self.gallery, spg_id, name)
        if confirmed is None:
            self.show_message(self.tr("Nothing saved: choose another SPG id for a new person."), error=True)
            return
        add, name = confirmed
        self.busy = True
        self.buttons.setEnabled(False)
        self.show_message(self.tr("Enrolling… (the face engine may take a few seconds to start)"))
        cfg = getattr(self.engine, "cfg", None)
        self.engine.run(lambda eng: run_enrollment(eng, self.gallery, spg_id, name, [Path(p) for p in photos], cfg,
                                                   add_to_existing=add),
                        lambda res: self._done(spg_id, name, res), self._failed)

    def _done(self, spg_id: str, name: str, result: EnrollReport) -> None:
        self.busy = False
        self.buttons.setEnabled(True)
        self.last_result = result
        summary, problems = describe_result(self, result, name)
        self.show_message("\n".join([summary, *problems]), error=bool(problems))
        self.enrolled.emit(spg_id)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.buttons.setEnabled(True)
        self.last_result = exc
        self.show_message(error_text(self, exc), error=True)


# --- webcam enrollment ---------------------------------------------------------------------------
def live_hint(frame: np.ndarray, faces: Sequence[Any], cfg: AppConfig) -> tuple[Any, str]:
    """(the face enrollment would take, or the largest one; reason) by enrollment's own rule
    (core.face_quality.enroll_check): a clearly dominant face with a small bystander is 'ok'."""
    from core.face_quality import enroll_check

    check = enroll_check(frame, faces, cfg.engine)
    face = check.face if check.face is not None else (max(faces, key=lambda f: f.area) if faces else None)
    return face, check.reason


def parse_source(text: str | int) -> str | int:
    if isinstance(text, int):
        return text
    t = str(text).strip()
    return int(t) if t.isdigit() else t


class PreviewThread(QThread):
    """Reads a camera (webcam index, file or URL) and detects faces for the live preview."""

    frame = Signal(object, object, str, object)  # QImage, face (DetectedFace|None), hint, frame ndarray
    error = Signal(str)

    def __init__(self, source: str | int, engine: EngineService, cfg: AppConfig, fps: float = 8.0, parent=None):
        super().__init__(parent)
        self.source, self.engine, self.cfg, self.fps = source, engine, cfg, fps
        self._stop = False

    def stop(self) -> None:
        self._stop = True
        self.wait(5000)

    def run(self) -> None:
        cap = CameraPreview(self.source, self.cfg.camera)  # the configured transport and timeouts
        if not cap.open():
            self.error.emit(self.tr("Cannot open camera {src}. Check it is connected and not used by another program.").format(src=mask_url(self.source)))
            return
        try:
            engine = self.engine.engine_blocking()
        except Exception as exc:  # noqa: BLE001
            self.error.emit(str(exc))
            cap.close()
            return
        period = 1.0 / self.fps
        try:
            while not self._stop:
                t0 = time.monotonic()
                img = cap.read()  # a video file standing in for a webcam loops
                if img is None:
                    self.error.emit(self.tr("The camera stopped sending pictures."))
                    break
                with self.engine.lock:
                    faces = engine.detect(img)
                face, hint = live_hint(img, faces, self.cfg)
                self.frame.emit(array_to_qimage(img), face, hint, img)
                self.msleep(int(max(0.0, period - (time.monotonic() - t0)) * 1000))
        finally:
            cap.close()


class PreviewLabel(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(480, 320)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #141418; color: #aaa;")

    def show_frame(self, image: QImage, face: Any, ok: bool) -> None:
        pm = QPixmap.fromImage(image)
        if face is not None:
            p = QPainter(pm)
            p.setPen(QPen(QColor(46, 204, 113) if ok else QColor(241, 196, 15), max(2, image.width() // 200)))
            x1, y1, x2, y2 = [float(v) for v in face.bbox]
            p.drawRect(int(x1), int(y1), int(x2 - x1), int(y2 - y1))
            p.end()
        self.setPixmap(pm.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class WebcamEnrollDialog(QDialog):
    """Live preview from a local or configured camera; capture several shots; save."""

    enrolled = Signal(str)

    def __init__(self, engine: EngineService, gallery: Any, cfg: AppConfig, parent: QWidget | None = None,
                 extra_sources: Sequence[tuple[str, str | int]] = ()):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Enroll an SPG from a camera"))
        self.engine, self.gallery, self.cfg = engine, gallery, cfg
        self.source_box = QComboBox()
        for i in range(3):
            self.source_box.addItem(self.tr("Local camera {n}").format(n=i), i)
        for cam in cfg.cameras:
            self.source_box.addItem(self.tr("Camera: {name}").format(name=cam.name or cam.id), cam.source)
        for label, src in extra_sources:
            self.source_box.addItem(label, src)
        self.start_btn = QPushButton(self.tr("Start preview"))
        self.start_btn.clicked.connect(self.start_preview)
        self.preview = PreviewLabel()
        self.preview.setText(self.tr("Choose a camera and press Start preview."))
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.capture_btn = QPushButton(self.tr("Capture"))
        self.capture_btn.setEnabled(False)
        self.capture_btn.clicked.connect(self.capture)
        self.shots = QListWidget()
        self.shots.setViewMode(QListWidget.ViewMode.IconMode)
        self.shots.setIconSize(QSize(80, 80))
        self.shots.setMaximumHeight(110)
        self.fields = _NameFields(gallery)
        self.message, self.buttons = _message_and_save_buttons(self)
        top = QHBoxLayout()
        top.addWidget(self.source_box, 1)
        top.addWidget(self.start_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.hint)
        lay.addWidget(self.capture_btn)
        lay.addWidget(QLabel(self.tr("Captured shots (3 to 5 with slightly different angles work best):")))
        lay.addWidget(self.shots)
        lay.addWidget(self.fields)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self._thread: PreviewThread | None = None
        self._current: tuple[np.ndarray, Any, str] | None = None
        self.captured: list[np.ndarray] = []
        self.frames_seen = 0
        self.busy = False
        self.last_result: Any = None

    def select_source(self, source: str | int) -> None:
        idx = self.source_box.findData(source)
        if idx < 0:
            self.source_box.addItem(str(mask_url(source)), source)
            idx = self.source_box.count() - 1
        self.source_box.setCurrentIndex(idx)

    def start_preview(self) -> None:
        self.stop_preview()
        src = parse_source(self.source_box.currentData())
        self._thread = PreviewThread(src, self.engine, self.cfg)
        self._thread.frame.connect(self._on_frame)
        self._thread.error.connect(lambda msg: self._show_message(msg, True))
        self._thread.start()
        self.hint.setText(self.tr("Starting the camera and the face engine…"))

    def stop_preview(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def hint_text(self, hint: str) -> str:
        return {
            "ok": self.tr("Good: press Capture."),
            "no_face": self.tr("No face seen. Stand in front of the camera."),
            "several_faces": self.tr("More than one face of similar size: only the SPG should be close to the camera."),
            "too_small": self.tr("Face too small: come closer to the camera."),
            "too_blurred": self.tr("Picture blurred: hold still (and check the light)."),
            "turn": self.tr("Turn to the camera: look straight at it."),
        }.get(hint, hint)

    def _on_frame(self, image: QImage, face: Any, hint: str, frame: np.ndarray) -> None:
        self.frames_seen += 1
        self._current = (frame, face, hint)
        self.preview.show_frame(image, face, hint == "ok")
        self.hint.setText(self.hint_text(hint))
        self.hint.setStyleSheet("color: #1e8449;" if hint == "ok" else "color: #b9770e;")
        self.capture_btn.setEnabled(face is not None)

    def capture(self) -> bool:
        if self._current is None or self._current[1] is None:
            self._show_message(self.tr("No face to capture yet."), True)
            return False
        frame, face, _hint = self._current
        self.captured.append(frame.copy())
        x1, y1, x2, y2 = [int(v) for v in face.bbox]
        h, w = frame.shape[:2]
        pad = int(0.25 * (x2 - x1))
        crop = frame[max(0, y1 - pad):min(h, y2 + pad), max(0, x1 - pad):min(w, x2 + pad)]
        item = QListWidgetItem(QIcon(QPixmap.fromImage(array_to_qimage(np.ascontiguousarray(crop)).copy())), str(len(self.captured)))
        self.shots.addItem(item)
        return True

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c0392b;" if error else "color: #1e8449;")
        self.message.setText(text)

    def save(self) -> None:
        spg_id, name = self.fields.values()
        if not name:
            self._show_message(self.tr("Type the SPG's name first."), True)
            return
        if not self.captured:
            self._show_message(self.tr("Capture at least one shot first."), True)
            return
        frames = list(self.captured)  # camera frames go to enrollment as they are (no file round trip)
        confirmed = confirm_existing(self, self.gallery, spg_id, name)
        if confirmed is None:
            self._show_message(self.tr("Nothing saved: choose another SPG id for a new person."), True)
            return
        add, name = confirmed
        self.busy = True
        self.buttons.setEnabled(False)
        self._show_message(self.tr("Enrolling…"))
        self.engine.run(lambda eng: run_enrollment(eng, self.gallery, spg_id, name, frames, self.cfg, source="camera",
                                                   add_to_existing=add),
                        lambda res: self._done(spg_id, name, res), self._failed)

    def _done(self, spg_id: str, name: str, result: EnrollReport) -> None:
        self.busy = False
        self.buttons.setEnabled(True)
        self.last_result = result
        summary, problems = describe_result(self, result, name)
        self._show_message("\n".join([summary, *problems]), bool(problems))
        self.enrolled.emit(spg_id)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.buttons.setEnabled(True)
        self.last_result = exc
        self._show_message(error_text(self, exc), True)

    def done(self, r: int) -> None:  # noqa: D401 - QDialog API: stop the camera whatever closes us
        self.stop_preview()
        super().done(r)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.stop_preview()
        super().closeEvent(event)
