"""Per-camera IoU face tracker with identity voting (pure logic, no I/O).

A face that stays in view keeps its track id from frame to frame (greedy IoU matching). The tracker says
which faces need an embedding this frame: a new track, a track whose identity is not yet settled (fewer than
``vote_min`` identifications so far), and every ``reverify_every``-th frame of a settled track. All others
reuse the track's voted identity, so a face already identified is not re-embedded on every frame.

Identity = the spg_id that at least ``vote_min`` of the last ``vote_window`` identifications agree on (None
counts as a vote for "unknown"); otherwise None. One stray false match therefore reports nobody.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), x1 y1 x2 y2."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


@dataclass
class Track:
    track_id: int
    bbox: np.ndarray
    age: int = 0
    """Frames since the track was created."""
    since_embed: int = 0
    """Frames since the last embedding (0 = embedded this frame)."""
    missed: int = 0
    votes: deque[tuple[str | None, float]] = field(default_factory=deque)
    """Recent identifications: (spg_id or None, similarity)."""
    embedded_once: bool = False


@dataclass(frozen=True, slots=True)
class TrackAssignment:
    track_id: int
    needs_embedding: bool


class FaceTracker:
    """Tracks of ONE camera. Call :meth:`update` per processed frame, then :meth:`record` per embedded face."""

    def __init__(self, iou_threshold: float = 0.3, reverify_every: int = 5, vote_window: int = 5,
                 vote_min: int = 2, max_missed: int = 3):
        self.iou_threshold = float(iou_threshold)
        self.reverify_every = max(1, int(reverify_every))
        self.vote_window = max(1, int(vote_window))
        self.vote_min = max(1, min(int(vote_min), self.vote_window))
        self.max_missed = int(max_missed)
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: Sequence[np.ndarray] | np.ndarray,
               matchable: Sequence[bool] | None = None) -> list[TrackAssignment]:
        """Assign each detected box (x1 y1 x2 y2) to a track; one :class:`TrackAssignment` per box, same order.

        ``matchable[i] = False`` (too small / blurred) keeps the face tracked but never asks for its embedding.
        """
        boxes_arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes_arr)
        matchable = list(matchable) if matchable is not None else [True] * n
        ids = list(self.tracks)
        prev = np.array([self.tracks[i].bbox for i in ids], dtype=np.float32).reshape(-1, 4)
        iou = iou_matrix(boxes_arr, prev)
        assigned: list[int | None] = [None] * n
        used: set[int] = set()
        # greedy: highest IoU pairs first
        if iou.size:
            order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0]
            for di, ti in order:
                if iou[di, ti] < self.iou_threshold:
                    break
                if assigned[di] is not None or ti in used:
                    continue
                assigned[di] = ids[ti]
                used.add(ti)
        out: list[TrackAssignment] = []
        seen: set[int] = set()
        for i in range(n):
            tid = assigned[i]
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                self.tracks[tid] = Track(tid, boxes_arr[i].copy(), since_embed=0)
                t = self.tracks[tid]
            else:
                t = self.tracks[tid]
                t.bbox = boxes_arr[i].copy()
                t.age += 1
                t.since_embed += 1
                t.missed = 0
            seen.add(tid)
            need = bool(matchable[i]) and (
                not t.embedded_once or self._undecided(t) or t.since_embed >= self.reverify_every
            )
            out.append(TrackAssignment(tid, need))
        for tid in list(self.tracks):
            if tid not in seen:
                t = self.tracks[tid]
                t.missed += 1
                if t.missed > self.max_missed:
                    del self.tracks[tid]
        return out

    def _undecided(self, t: Track) -> bool:
        """No identity (not even 'unknown') has vote_min agreeing votes yet."""
        counts = Counter(v[0] for v in t.votes)
        return not counts or counts.most_common(1)[0][1] < self.vote_min

    def record(self, track_id: int, spg_id: str | None, similarity: float) -> None:
        """Add one identification (from this frame's embedding) to the track's votes."""
        t = self.tracks.get(track_id)
        if t is None:
            return
        t.votes.append((spg_id, float(similarity)))
        while len(t.votes) > self.vote_window:
            t.votes.popleft()
        t.since_embed = 0
        t.embedded_once = True

    def identity(self, track_id: int) -> tuple[str | None, float]:
        """(spg_id agreed by >= vote_min of the recent votes, its mean similarity) or (None, last similarity)."""
        t = self.tracks.get(track_id)
        if t is None or not t.votes:
            return None, 0.0
        counts = Counter(v[0] for v in t.votes if v[0] is not None)
        if counts:
            pid, c = counts.most_common(1)[0]
            if c >= self.vote_min:
                sims = [s for p, s in t.votes if p == pid]
                return pid, float(sum(sims) / len(sims))
        return None, float(t.votes[-1][1])

    def reset(self) -> None:
        self.tracks.clear()

    def forget_votes(self) -> None:
        """The gallery changed (an enrollment, a "not this person"): every track is embedded and voted
        again from the next frame, so a name the new gallery no longer gives does not linger."""
        for t in self.tracks.values():
            t.votes.clear()
            t.embedded_once = False
