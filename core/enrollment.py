"""Enrollment: photos -> exactly one usable face each -> samples in the gallery; and re-indexing.

Rules per photo: it must open as an image; it must hold one face, or one clearly dominant face (the others
much smaller: background people); that face must be large and sharp enough. Each refusal is an
:class:`EnrollmentError` with a machine-readable ``reason`` and a sentence a store supervisor understands.
Nothing is written unless at least one photo is accepted (with ``strict=True``: unless all are), so a
refused enrollment leaves the gallery exactly as it was. A face that already matches another enrolled
SPG is accepted with a warning. Photos for an id that is already enrolled are refused unless the caller
says they are meant for that SPG (``add_to_existing``), and then only faces that match that SPG's photos.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from core.engine.base import DetectedFace, FaceEngine
from core.face_quality import dominant_face, enroll_check
from core.gallery import Gallery, GalleryError, NewSample, Person, ReindexReport, Sample, check_path_id
from core.identify import embed_face_crop
from core.image_io import ImageTooLarge, decode_image, max_pixels_of
from core.liveness import LivenessChecker
from core.lookalikes import lookalikes_of

log = logging.getLogger(__name__)

Photo = Path | str | np.ndarray


class Reason(StrEnum):
    """Every reason enrollment refuses a photo or a request; the console words each one (ui.enroll_dialogs)."""

    UNREADABLE = "unreadable"
    NOT_IMAGE = "not_image"
    TOO_LARGE = "too_large"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "too_small"
    TOO_BLURRED = "too_blurred"
    BAD_ID = "bad_id"
    BAD_NAME = "bad_name"
    NO_PHOTOS = "no_photos"
    EXISTS = "exists"
    NAME_DIFFERS = "name_differs"
    CANNOT_COMPARE = "cannot_compare"
    NOT_SAME_PERSON = "not_same_person"
    SPOOFED = "spoofed"
    """Liveness (``fraud.liveness``) judged the camera's face a photo or a screen."""


MESSAGES = {
    Reason.UNREADABLE: "the file cannot be opened (missing, empty or no permission). Check the file and try again.",
    Reason.NOT_IMAGE: "the file is not a photo this program can read. Use a JPG or PNG picture.",
    Reason.NO_FACE: "no face was found. Use a photo where the face is clear, lit and looking at the camera.",
    Reason.SEVERAL_FACES: "there is more than one face of similar size. Use a photo of this SPG alone.",
    Reason.TOO_SMALL: "the face is too small ({px} px wide, at least {min_px} px needed). Use a closer or larger photo.",
    Reason.TOO_BLURRED: "the face is too blurred (sharpness {sharp:.0f}, at least {min_sharp:.0f} needed). "
                        "Use a sharper photo with good light.",
    Reason.SPOOFED: "the face looks like a photo or a screen held up to the camera (liveness {score:.2f}, at least "
                    "{threshold:.2f} needed). The SPG must stand in front of the camera in person.",
    Reason.TOO_LARGE: "the picture is {width} x {height} pixels, more than the limit of {limit:g} million pixels "
                      "(engine.max_image_megapixels). Use a smaller copy of the photo.",
}


class EnrollmentError(Exception):
    """One photo (or the whole enrollment) was refused. ``reason`` is machine-readable."""

    def __init__(self, reason: Reason, message: str, photo: str | None = None):
        self.reason = reason
        self.photo = photo
        self.message = message
        super().__init__(f"{Path(photo).name}: {message}" if photo else message)


def _error(reason: Reason, photo: str | None, **kw: float) -> EnrollmentError:
    return EnrollmentError(reason, MESSAGES[reason].format(**kw), photo)


@dataclass
class EnrollReport:
    spg_id: str
    name: str
    added: list[Sample] = field(default_factory=list)
    rejected: list[tuple[str, EnrollmentError]] = field(default_factory=list)
    """(photo, why) for each refused photo."""
    warnings: list[str] = field(default_factory=list)
    similar: list[tuple[str, str, float]] = field(default_factory=list)
    """(other spg_id, other name, similarity) for each other SPG an accepted face already matches."""


@dataclass
class FaceSample:
    """One accepted face of a photo, before it is stored."""

    label: str
    image: np.ndarray
    face: DetectedFace
    chip: np.ndarray
    photo_bytes: bytes
    suffix: str


# --- loading ---------------------------------------------------------------------------------------
def load_image(photo: Photo, cfg=None) -> tuple[np.ndarray, bytes, str, str]:
    """(BGR image, original bytes, file suffix, label). EnrollmentError 'unreadable' / 'not_image' /
    'too_large' (the header announces more than ``cfg.max_image_megapixels``; nothing decoded)."""
    if isinstance(photo, np.ndarray):
        img = photo
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.size == 0:
            raise _error(Reason.NOT_IMAGE, "camera frame")
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        img = np.ascontiguousarray(img, dtype=np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        return img, (buf.tobytes() if ok else b""), ".jpg", "camera frame"
    path = Path(photo)
    label = str(path)
    try:
        data = path.read_bytes()
    except OSError:
        raise _error(Reason.UNREADABLE, label) from None
    if not data:
        raise _error(Reason.UNREADABLE, label)
    max_pixels = max_pixels_of(cfg.max_image_megapixels if cfg is not None else None)
    try:
        decoded = decode_image(data, label, cv2.IMREAD_COLOR, max_pixels)  # applies EXIF orientation
    except ImageTooLarge as exc:
        raise _error(Reason.TOO_LARGE, label, width=exc.width, height=exc.height,
                     limit=max_pixels / 1e6) from None
    if decoded is None or decoded.size == 0:
        raise _error(Reason.NOT_IMAGE, label)
    suffix = path.suffix.lower() if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff") else ".jpg"
    return decoded, data, suffix, label


def read_image(photo: Photo, cfg=None) -> np.ndarray:
    return load_image(photo, cfg)[0]


# --- one photo -> one face --------------------------------------------------------------------------
def usable_face(engine: FaceEngine, image: np.ndarray, label: str | None = None, cfg=None) -> DetectedFace:
    """The photo's one usable face, or EnrollmentError (no_face / several_faces / too_small / too_blurred)."""
    check = enroll_check(image, engine.detect(image), cfg)
    q = check.quality
    if check.reason == "too_small" and q is not None:
        raise _error(Reason.TOO_SMALL, label, px=int(q.face_px), min_px=int(getattr(cfg, "enroll_min_face_px", 60)))
    if check.reason == "too_blurred" and q is not None:
        raise _error(Reason.TOO_BLURRED, label, sharp=q.sharpness, min_sharp=float(getattr(cfg, "min_sharpness", 15.0)))
    if check.face is None or not check.accepted:
        raise _error(Reason(check.reason), label)
    return check.face


def prepare_photo(engine: FaceEngine, photo: Photo, cfg=None, liveness: LivenessChecker | None = None) -> FaceSample:
    """The photo's one usable face; with ``liveness``, a face it judges a photo or a screen is refused."""
    img, data, suffix, label = load_image(photo, cfg)
    face = usable_face(engine, img, label, cfg)
    if liveness is not None:
        verdict = liveness.check(img, face.bbox)
        if not verdict.is_real:
            raise _error(Reason.SPOOFED, label, score=verdict.real_score,
                         threshold=verdict.threshold)
    return FaceSample(label, img, face, engine.align(img, face), data, suffix)


def embed_dominant_face(engine: FaceEngine, photo: Photo, cfg=None) -> tuple[np.ndarray, DetectedFace]:
    """(embedding (D,), face) of the photo's dominant face, by the enrollment rules (benchmarks, calibration)."""
    fs = prepare_photo(engine, photo, cfg)
    return engine.embed_chips([fs.chip])[0], fs.face


def _cfg_of(engine: FaceEngine, cfg):
    return cfg if cfg is not None else getattr(engine, "cfg", None)


# --- enrollment ------------------------------------------------------------------------------------
def enroll_photos(
    engine: FaceEngine,
    gallery: Gallery,
    spg_id: str,
    name: str,
    photos: Sequence[Photo],
    *,
    cfg=None,
    notes: str | None = None,
    strict: bool = False,
    source: str = "photo",
    add_to_existing: bool = False,
    liveness: LivenessChecker | None = None,
) -> EnrollReport:
    """Enroll (or add samples to) an SPG from photo files or camera frames.

    Every photo is checked first; then all accepted faces are embedded in one batch and written in one
    gallery step. Raises EnrollmentError (gallery unchanged) when no photo is usable, or with
    ``strict=True`` when any photo is refused. ``cfg`` is the EngineConfig (enrollment limits).

    An id that is already enrolled is refused ('exists', naming who has it) unless ``add_to_existing``
    says the photos are meant for that SPG; even then it is not renamed ('name_differs'), and a face that
    matches none of that SPG's samples is refused ('not_same_person'): a typo in an id must never merge
    two people.

    ``liveness`` (the webcam enrollment when ``fraud.liveness`` is on) refuses a face it judges a photo or a
    screen ('spoofed').
    """
    existing = gallery.get(spg_id) if _path_safe(spg_id) else None
    try:
        if existing is None:
            gallery.check_new_id(spg_id)
    except GalleryError as exc:
        raise EnrollmentError(Reason.BAD_ID, str(exc)) from None
    if existing is not None:
        _check_adding(existing, name, add_to_existing)
    if not (name or "").strip() and existing is None:
        raise EnrollmentError(Reason.BAD_NAME, "the SPG needs a name")
    if not photos:
        raise EnrollmentError(Reason.NO_PHOTOS, "no photo was given; add at least one photo of the SPG")
    cfg = _cfg_of(engine, cfg)
    report = EnrollReport(spg_id=spg_id, name=(name or "").strip())
    accepted: list[FaceSample] = []
    for photo in photos:
        try:
            accepted.append(prepare_photo(engine, photo, cfg, liveness))
        except EnrollmentError as exc:
            report.rejected.append((exc.photo or str(photo) if not isinstance(photo, np.ndarray) else "camera frame", exc))
    if report.rejected and (strict or not accepted):
        raise report.rejected[0][1]
    emb = engine.embed_chips([a.chip for a in accepted])
    model_id = engine.info.model_id
    if existing is not None:
        keep = _same_person(engine, existing, emb, [a.label for a in accepted], report)
        if not keep:
            raise report.rejected[-1][1]  # the newest refusal is the "not the same person" one
        if strict and report.rejected:
            raise report.rejected[0][1]
        accepted, emb = [accepted[i] for i in keep], emb[keep]
    _check_similar(engine, gallery, spg_id, emb, report)
    new = [NewSample(embedding=emb[i], model_id=model_id, crop_bgr=a.chip, photo_bytes=a.photo_bytes,
                     photo_suffix=a.suffix, bbox=[float(v) for v in a.face.bbox], source=source)
           for i, a in enumerate(accepted)]
    report.added = gallery.add_samples(spg_id, name, new, notes=notes)
    person = gallery.get(spg_id)
    report.name = person.name if person else report.name
    for photo, err in report.rejected:
        report.warnings.append(f"skipped {Path(photo).name}: {err.message}")
    log.info("enrolled %s (%s): %d sample(s) added, %d photo(s) refused", spg_id, report.name, len(report.added),
             len(report.rejected))
    return report


def _path_safe(spg_id: str) -> bool:
    try:
        check_path_id(spg_id)
    except GalleryError:
        return False
    return True


def _check_adding(existing: Person, name: str, add_to_existing: bool) -> None:
    n = existing.sample_count
    if not add_to_existing:
        raise EnrollmentError(
            Reason.EXISTS,
            f"the id {existing.spg_id!r} is already enrolled as {existing.name!r} ({n} photo(s)). To add these photos "
            f"to {existing.name}, confirm it (app.py enroll --add-to-existing); to enroll someone else, choose "
            "another id.")
    if (name or "").strip() and name.strip() != existing.name:
        raise EnrollmentError(
            Reason.NAME_DIFFERS,
            f"{existing.spg_id} is enrolled as {existing.name!r}, not {name.strip()!r}; adding photos never renames "
            "an SPG. Give their enrolled name (or no name) to add photos, or rename them in the console's gallery.")


def _same_person(engine: FaceEngine, existing: Person, emb: np.ndarray, labels: list[str],
                 report: EnrollReport) -> list[int]:
    """Indexes of the new faces that match one of ``existing``'s samples; the others are refused."""
    model_id, dim = engine.info.model_id, int(emb.shape[1])
    own = [s.embeddings[model_id] for s in existing.samples
           if model_id in s.embeddings and s.embeddings[model_id].shape == (dim,)]
    if not existing.samples:
        return list(range(len(labels)))  # nothing to compare with yet (created without photos)
    if not own:
        raise EnrollmentError(
            Reason.CANNOT_COMPARE,
            f"{existing.spg_id}'s photos have no embedding for the current face model {model_id}, so the new photos "
            "cannot be checked against them. Run 'app.py gallery reindex' (or Re-index in the console) first.")
    best = (emb @ np.stack(own).T).max(axis=1)
    thr = float(engine.info.threshold)
    keep: list[int] = []
    for i, (label, sim) in enumerate(zip(labels, best)):
        if sim >= thr:
            keep.append(i)
            continue
        exc = EnrollmentError(
            Reason.NOT_SAME_PERSON,
            f"this face does not match any enrolled photo of {existing.name} ({existing.spg_id}) (similarity "
            f"{float(sim):.2f}, {thr:.2f} needed). Only photos of the same person can be added.",
            None if label == "camera frame" else label)
        report.rejected.append((label, exc))
    return keep


def _check_similar(engine: FaceEngine, gallery: Gallery, spg_id: str, emb: np.ndarray, report: EnrollReport) -> None:
    ids, mat = gallery.matrix(engine.info.model_id, int(emb.shape[1]))
    if not ids:
        return
    names = gallery.names()
    own = [i for i, pid in enumerate(ids) if pid == spg_id]
    # the gallery manager's look-alike rule (threshold - margin), so both name the same pairs
    for pid, sim in lookalikes_of(emb, ids, mat, spg_id, engine.info.threshold, engine.info.margin):
        report.similar.append((pid, names.get(pid, pid), sim))
        report.warnings.append(
            f"this face {'already matches' if sim >= engine.info.threshold else 'looks like'} {names.get(pid, pid)} "
            f"({pid}, similarity {sim:.2f}): the two may be confused; "
            "check that the right person was enrolled"
        )
    if own:
        best = (emb @ mat[own].T).max(axis=1)
        if np.any(best < engine.info.threshold):
            report.warnings.append(
                f"some new photos do not look like {spg_id}'s earlier photos (similarity {best.min():.2f}); "
                "check that they show the same person"
            )


# --- re-indexing -----------------------------------------------------------------------------------
def _iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    iw, ih = max(0.0, min(ax2, bx2) - max(ax1, bx1)), max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def _sample_chip(engine: FaceEngine, gallery: Gallery, spg_id: str, s: Sample) -> np.ndarray:
    """Find the sample's face again in its original photo (or in its crop) and align it for ``engine``."""
    photo = gallery.photo_path(spg_id, s)
    crop = gallery.crop_path(spg_id, s)
    if photo is not None and photo.is_file():
        img = read_image(photo)
        faces = engine.detect(img)
        if faces and len(s.bbox) == 4:
            best = max(faces, key=lambda f: _iou(f.bbox, s.bbox))
            if _iou(best.bbox, s.bbox) > 0.3:
                return engine.align(img, best)
        face = dominant_face(faces, img.shape)
        if face is not None:
            return engine.align(img, face)
    if crop is not None and crop.is_file():
        img = read_image(crop)
        pad = img.shape[0] // 2
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        face = dominant_face(engine.detect(img))
        if face is not None:
            return engine.align(img, face)
    raise EnrollmentError(Reason.NO_FACE, "the face of this sample cannot be found again in its photo")


def reindex(engine: FaceEngine, gallery: Gallery, progress: Callable[[int, int], None] | None = None,
            force: bool = False) -> ReindexReport:
    """Add ``engine``'s embedding to every sample that lacks it or has one of the wrong size (a damaged
    record: the matcher skips it), all of them with ``force``; with progress."""
    model_id, dim = engine.info.model_id, int(engine.info.embedding_dim)
    report = ReindexReport(model_id=model_id)
    people = gallery.people()

    def needed(s: Sample) -> bool:
        e = s.embeddings.get(model_id)
        return force or e is None or e.shape != (dim,)

    todo = [(p.spg_id, s) for p in people for s in p.samples if needed(s)]
    total = len(todo)
    if progress:
        progress(0, total)
    by_person: dict[str, list[tuple[str, np.ndarray]]] = {}
    for n, (spg_id, s) in enumerate(todo, 1):
        try:
            by_person.setdefault(spg_id, []).append((s.id, _sample_chip(engine, gallery, spg_id, s)))
        except EnrollmentError as exc:
            report.failed.append(f"{spg_id}/{s.id}: {exc.message}")
            log.warning("reindex: %s/%s: %s", spg_id, s.id, exc.message)
        if progress:
            progress(n, total)
    for spg_id, items in by_person.items():
        emb = engine.embed_chips([c for _, c in items])
        gallery.set_embeddings(spg_id, {sid: emb[i] for i, (sid, _) in enumerate(items)}, model_id)
        report.done += len(items)
    reindex_negatives(engine, gallery, report, force)
    log.info("reindex for %s: %d sample(s) embedded, %d failed", model_id, report.done, len(report.failed))
    return report


def reindex_negatives(engine: FaceEngine, gallery: Gallery, report: ReindexReport, force: bool = False) -> None:
    """Re-embed the "not this person" samples from their kept crops, so they keep working after a model change."""
    model_id = engine.info.model_id
    for p in gallery.people():
        updates: dict[str, np.ndarray] = {}
        for n in p.negatives:
            if not force and model_id in n.embeddings:
                continue
            crop = gallery.negative_crop_path(p.spg_id, n)
            try:
                found = embed_face_crop(engine, read_image(crop)) if crop is not None else None
            except EnrollmentError:  # crop missing or unreadable
                found = None
            if found is None:
                report.failed.append(f"{p.spg_id}/not-this-person {n.id}: the face cannot be found again in its crop")
                continue
            updates[n.id] = found[0]
        if updates:
            gallery.set_negative_embeddings(p.spg_id, updates, model_id)
