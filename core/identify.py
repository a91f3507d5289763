"""Identify the faces of one image against the gallery, and keep a matcher in step with the gallery.

``identify_image`` is what ``app.py identify`` and ``benchmarks/accuracy.py`` run: detect -> align ->
one batched embed -> one matcher call. ``LiveMatcher`` rebuilds its :class:`core.matcher.Matcher`
when ``Gallery.version()`` changes (another process enrolled or removed someone): no restart needed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from core.engine.base import DetectedFace, FaceEngine
from core.gallery import Gallery
from core.matcher import Matcher, MatchResult, empty_matcher

log = logging.getLogger(__name__)


def gallery_matcher(gallery: Gallery, model_id: str, dim: int, threshold: float, margin: float) -> Matcher:
    """The matcher over the gallery's active samples AND negative samples for one model (the one way
    every process builds it: inference server, identify, enrollment checks)."""
    ids, mat = gallery.matrix(model_id, dim)
    if not ids:
        return empty_matcher(dim, threshold, margin)
    neg_ids, neg = gallery.negative_matrix(model_id)
    if neg_ids and neg.shape[1] != mat.shape[1]:
        log.warning("gallery: negative samples of %s have %d dimensions, samples %d; negatives ignored until "
                    "'app.py gallery reindex'", model_id, neg.shape[1], mat.shape[1])
        neg_ids, neg = [], np.zeros((0, mat.shape[1]), np.float32)
    return Matcher(ids, mat, threshold, margin, negative_person_ids=neg_ids,
                   negatives=neg if neg_ids else np.zeros((0, mat.shape[1]), np.float32))


def matcher_for(gallery: Gallery, engine: FaceEngine) -> Matcher:
    """A matcher over the gallery's active samples for this engine's model (empty gallery: empty matcher)."""
    i = engine.info
    return gallery_matcher(gallery, i.model_id, i.embedding_dim, i.threshold, i.margin)


class LiveMatcher:
    """The current matcher for a gallery; ``get()`` is cheap (one stamp read) and rebuilds after a change."""

    def __init__(self, gallery: Gallery, engine: FaceEngine):
        self.gallery = gallery
        self.engine = engine
        self._lock = threading.Lock()
        self._version: str | None = None
        self._matcher: Matcher | None = None

    def get(self) -> Matcher:
        v = self.gallery.version()
        with self._lock:
            if self._matcher is None or v != self._version:
                self._matcher = matcher_for(self.gallery, self.engine)
                self._version = v
                log.info("gallery %s loaded: %d sample(s) of %d SPG(s)", v[:8], self._matcher.size, len(self._matcher.people))
            return self._matcher


@dataclass(frozen=True)
class IdentifiedFace:
    face: DetectedFace
    result: MatchResult


def identify_image(engine: FaceEngine, matcher: Matcher, image_bgr: np.ndarray) -> list[IdentifiedFace]:
    """Every face of the image with its match (faces in detection order)."""
    faces = engine.detect(image_bgr)
    if not faces:
        return []
    emb = engine.embed_chips([engine.align(image_bgr, f) for f in faces])
    return [IdentifiedFace(f, r) for f, r in zip(faces, matcher.match(emb))]


def embed_face_crop(engine: FaceEngine, crop_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(embedding, aligned chip) of the one face in a face crop (an unknown-face crop, a tile's face), or
    None when no face is found again. The crop is padded first: detectors miss faces that fill the image."""
    import cv2

    from core.face_quality import dominant_face

    if crop_bgr is None or crop_bgr.size == 0:
        return None
    pad = max(8, crop_bgr.shape[0] // 2)
    img = cv2.copyMakeBorder(np.ascontiguousarray(crop_bgr), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    face = dominant_face(engine.detect(img), img.shape)
    if face is None:
        return None
    chip = engine.align(img, face)
    return engine.embed_chips([chip])[0], chip
