"""Presence fraud checks of one camera's tracks: passive liveness and the still-face check.

The inference server asks :meth:`FraudGuard.judge` about every face the tracker has given an SPG's name.
Liveness (:mod:`core.liveness`) runs when a track first gets a name (or another name), then every
``fraud.liveness.recheck_minutes`` while the track lives, and only on faces at least
``fraud.liveness.min_face_px`` wide; its verdict holds for the track until the next check. The still-face check
(:mod:`core.still_face`) sees every frame of a named track, at any face size. A flagged face is reported with
:class:`core.messages.Fraud` set and does not count as a hit (``core.attendance``). Pure logic: the liveness
checker is injected (a :class:`core.liveness.LivenessChecker`), and so is the clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.clock import Clock
from core.config import FraudConfig
from core.liveness import LivenessChecker
from core.messages import Fraud
from core.still_face import StillFaceWatch


@dataclass
class _Judged:
    spg_id: str
    at: float
    real: bool
    score: float


@dataclass(frozen=True, slots=True)
class FraudVerdict:
    fraud: Fraud
    """Fraud.NONE when nothing is wrong (or nothing could be judged)."""
    liveness: float | None
    """The track's latest liveness score (0..1), None when not judged."""


class FraudGuard:
    """The fraud checks of ONE camera's tracks (keyed by track id)."""

    def __init__(self, cfg: FraudConfig, checker: LivenessChecker | None, clock: Clock):
        self.cfg = cfg
        self.checker = checker if cfg.liveness.enabled else None
        self.clock = clock
        self.still = StillFaceWatch(cfg.still_face.seconds, cfg.still_face.tolerance, clock) \
            if cfg.still_face.enabled else None
        self._judged: dict[int, _Judged] = {}
        self.checks = 0
        """Liveness checks run (each is the pair of models on one face)."""

    @property
    def active(self) -> bool:
        return self.checker is not None or self.still is not None

    def judge(self, image: np.ndarray, track_id: int, spg_id: str, bbox: Sequence[float] | np.ndarray,
              landmarks: np.ndarray) -> FraudVerdict:
        """The verdict on a named face of this frame (``bbox``/``landmarks`` in ``image`` coordinates)."""
        now = self.clock.monotonic()
        width = float(bbox[2]) - float(bbox[0])
        j = self._judged.get(track_id)
        if self.checker is not None and width >= self.cfg.liveness.min_face_px and (
                j is None or j.spg_id != spg_id or now - j.at >= self.cfg.liveness.recheck_minutes * 60.0):
            v = self.checker.check(image, bbox)
            self.checks += 1
            j = self._judged[track_id] = _Judged(spg_id, now, v.is_real, v.real_score)
        score = j.score if j is not None else None
        if j is not None and not j.real:
            return FraudVerdict(Fraud.LIVENESS, score)
        if self.still is not None and self.still.update(track_id, landmarks, width):
            return FraudVerdict(Fraud.STILL_FACE, score)
        return FraudVerdict(Fraud.NONE, score)

    def retain(self, track_ids: Collection[int]) -> None:
        """Forget the tracks the tracker dropped."""
        for t in [t for t in self._judged if t not in track_ids]:
            del self._judged[t]
        if self.still is not None:
            self.still.retain(track_ids)
