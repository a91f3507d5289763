"""Still-face check: a face whose landmarks stay put for too long is a photo or a screen, not a person.

A person at a counter always moves a little (breathing, glances, head turns); a printed photo or a phone
propped up does not. Movement is measured in units of the face's own width, so the same tolerance means the
same thing for a face 40 px wide and one 400 px wide. Each face keeps an anchor: its landmarks the last time
they moved by more than ``tolerance`` (the mean distance of the points from the anchor's, in face widths;
the mean, because one point, a mouth corner, jitters most between two detections of the same picture). When
the anchor is older than ``seconds`` the face is still. Pure logic on the injected clock (:class:`core.clock.Clock`).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass

import numpy as np

from core.clock import Clock


@dataclass
class _Anchor:
    points: np.ndarray
    since: float


class StillFaceWatch:
    """Still faces among those tracked, keyed by the caller (a track id)."""

    def __init__(self, seconds: float, tolerance: float, clock: Clock):
        self.seconds = float(seconds)
        self.tolerance = float(tolerance)
        self.clock = clock
        self._anchors: dict[Hashable, _Anchor] = {}

    def update(self, key: Hashable, landmarks: np.ndarray, face_width: float) -> bool:
        """Feed this frame's landmarks (N x 2, image coordinates) of face ``key``; True while it is still."""
        now = self.clock.monotonic()
        pts = np.asarray(landmarks, np.float64).reshape(-1, 2)
        a = self._anchors.get(key)
        if a is None or a.points.shape != pts.shape:
            self._anchors[key] = _Anchor(pts, now)
            return False
        moved = float(np.mean(np.linalg.norm(pts - a.points, axis=1))) / max(1.0, float(face_width))
        if moved > self.tolerance:
            a.points, a.since = pts, now
            return False
        return now - a.since >= self.seconds

    def still_for(self, key: Hashable) -> float:
        """Seconds the face ``key`` has not moved (0 when unknown)."""
        a = self._anchors.get(key)
        return 0.0 if a is None else self.clock.monotonic() - a.since

    def retain(self, keys: Collection[Hashable]) -> None:
        """Forget the faces not in ``keys`` (their tracks ended)."""
        for k in [k for k in self._anchors if k not in keys]:
            del self._anchors[k]
