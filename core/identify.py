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


def matcher_for(gallery: Gallery, engine: FaceEngine) -> Matcher:
    """A matcher over the gallery's active samples for this engine's model (empty gallery: empty matcher)."""
    ids, mat = gallery.matrix(engine.info.model_id, engine.info.embedding_dim)
    if not ids:
        return empty_matcher(engine.info.embedding_dim, engine.info.threshold, engine.info.margin)
    return Matcher(ids, mat, engine.info.threshold, engine.info.margin)


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
