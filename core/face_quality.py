"""Is a detected face good enough to enroll (or to match)? Size, sharpness, dominance, pose.

Shared by enrollment (hard rejections with a reason code) and the webcam enrollment dialog (live hints):
both call :func:`enroll_check`, so a hint never asks to fix a frame enrollment would accept.
Reason codes: ``ok``, ``too_small``, ``too_blurred``, ``turn`` (face turned away, hint only),
``several_faces`` (no clearly dominant face).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from core.config import EngineConfig
from core.engine.base import DetectedFace

DOMINANT_AREA_RATIO = 2.5
"""The most prominent face is "clearly dominant" when its prominence is at least this many times the next one's."""
SHARPNESS_SIZE = 112
"""Larger faces are shrunk to this width before measuring sharpness, so a big face is not judged by
its pixel-level detail; smaller faces are measured as they are."""
TURN_LIMIT = 0.35
"""Nose offset from the eyes' midpoint, in eye distances, beyond which the face is turned away."""


@dataclass(frozen=True)
class Quality:
    reason: str
    """'ok', 'too_small', 'too_blurred' or 'turn'."""
    face_px: float
    sharpness: float
    turn: float

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def sharpness(image_bgr: np.ndarray, face: DetectedFace) -> float:
    """Variance of the Laplacian of the face box, resized to a fixed width (higher = sharper)."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = [int(round(float(v))) for v in face.bbox]
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0
    crop = image_bgr[y1:y2, x1:x2]
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if gray.shape[1] > SHARPNESS_SIZE:  # only ever shrink: enlarging a small face would blur it artificially
        scale = SHARPNESS_SIZE / gray.shape[1]
        gray = cv2.resize(gray, (SHARPNESS_SIZE, max(4, int(round(gray.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
    # 16-bit Laplacian (exact for 8-bit input) and OpenCV's own mean/std: the same value as numpy's float64
    # variance, without a float64 image and numpy's reductions (the inference server runs this on every face)
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))
    return float(std[0, 0]) ** 2


def turn_amount(face: DetectedFace) -> float:
    """|nose offset from the eye midpoint| / eye distance (0 = frontal)."""
    lm = np.asarray(face.landmarks, np.float32)
    if lm.shape != (5, 2):
        return 0.0
    eye_dx = float(np.linalg.norm(lm[1] - lm[0]))
    if eye_dx < 1:
        return 1.0
    mid = (lm[0] + lm[1]) / 2
    axis = (lm[1] - lm[0]) / eye_dx
    return abs(float(np.dot(lm[2] - mid, axis))) / eye_dx


def assess(image_bgr: np.ndarray, face: DetectedFace, cfg: EngineConfig | None = None, *,
           min_face_px: float | None = None, min_sharpness: float | None = None) -> Quality:
    """Size first, then sharpness, then pose. ``cfg`` holds the enrollment limits (None: the defaults)."""
    limits = cfg or EngineConfig()
    min_px = min_face_px if min_face_px is not None else float(limits.enroll_min_face_px)
    min_sharp = min_sharpness if min_sharpness is not None else float(limits.min_sharpness)
    size = min(face.width, face.height)
    sharp = sharpness(image_bgr, face)
    turn = turn_amount(face)
    if size < min_px:
        reason = "too_small"
    elif sharp < min_sharp:
        reason = "too_blurred"
    elif turn > TURN_LIMIT:
        reason = "turn"
    else:
        reason = "ok"
    return Quality(reason, size, sharp, turn)


BORDER_FRACTION = 0.03
"""A face box within this fraction of the image size from an edge is 'cut by the edge'."""


def cut_by_edge(face: DetectedFace, image_shape: Sequence[int]) -> bool:
    """True when the face box touches the photo's border (a background face cut off by the frame)."""
    h, w = int(image_shape[0]), int(image_shape[1])
    mx, my = BORDER_FRACTION * w, BORDER_FRACTION * h
    x1, y1, x2, y2 = [float(v) for v in face.bbox]
    return x1 <= mx or y1 <= my or x2 >= w - mx or y2 >= h - my


def prominence(face: DetectedFace, image_shape: Sequence[int]) -> float:
    """Box area x (1 - distance from the photo centre / half diagonal)^2, halved when cut by the photo's edge."""
    h, w = float(image_shape[0]), float(image_shape[1])
    cx, cy = float(face.bbox[0] + face.bbox[2]) / 2, float(face.bbox[1] + face.bbox[3]) / 2
    off = np.hypot(cx - w / 2, cy - h / 2) / max(1.0, np.hypot(w / 2, h / 2))
    weight = max(0.05, 1.0 - off) ** 2
    if cut_by_edge(face, image_shape):
        weight *= 0.5
    return float(face.area * weight)


def dominant_face(faces: Sequence[DetectedFace], image_shape: Sequence[int] | None = None,
                  ratio: float = DOMINANT_AREA_RATIO) -> DetectedFace | None:
    """The one face, or the clearly dominant one; None when several faces are equally prominent (or none).

    Without ``image_shape``: dominant = at least ``ratio`` times the box area of every other face. With it,
    the area is weighted by how central the face is and halved for a face cut by the photo's edge
    (background people at the border of a tightly cropped photo), see :func:`prominence`.
    """
    if not faces:
        return None
    if len(faces) == 1:
        return faces[0]
    score = (lambda f: f.area) if image_shape is None else (lambda f: prominence(f, image_shape))
    ranked = sorted(faces, key=score, reverse=True)
    return ranked[0] if score(ranked[0]) >= ratio * score(ranked[1]) else None


@dataclass(frozen=True)
class EnrollCheck:
    """What enrollment would say about a photo (or a live frame): the one rule for both."""

    face: DetectedFace | None
    """The face enrollment would take (the one face, or the clearly dominant one)."""
    reason: str
    """'ok', 'turn' (accepted, hint only), 'no_face', 'several_faces', 'too_small' or 'too_blurred'."""
    quality: Quality | None = None

    @property
    def accepted(self) -> bool:
        return self.reason in ("ok", "turn")


def enroll_check(image_bgr: np.ndarray, faces: Sequence[DetectedFace], cfg: EngineConfig | None = None) -> EnrollCheck:
    """Enrollment's rule for one photo's detected faces; the webcam dialog's hints come from this too."""
    if not faces:
        return EnrollCheck(None, "no_face")
    face = dominant_face(faces, image_bgr.shape)
    if face is None:
        return EnrollCheck(None, "several_faces")
    q = assess(image_bgr, face, cfg)
    return EnrollCheck(face, q.reason, q)
