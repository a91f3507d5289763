"""Match face embeddings against the gallery: one vectorised dot product per frame.

All query faces (N, D) against all gallery samples (M, D) in one matrix product; per person the best
sample counts; a match needs the best person's similarity >= threshold AND a margin over the
second-best person (an ambiguous face is not a match). Empty gallery: every face is
``MatchResult(False, None, 0.0)`` and detection goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True, slots=True)
class MatchResult:
    is_match: bool
    spg_id: str | None
    similarity: float
    """Best person's similarity (cosine); for a non-match, of the nearest person (0.0 if none)."""
    nearest_id: str | None = None
    """Nearest person even when not a match (for 'looks like another SPG' warnings)."""

    def as_tuple(self) -> tuple[bool, str | None, float]:
        return self.is_match, self.spg_id, self.similarity


NO_MATCH = MatchResult(False, None, 0.0)


class Matcher:
    """Immutable snapshot of the gallery for one embedding space. Build a new one on gallery change."""

    def __init__(
        self,
        sample_person_ids: Sequence[str],
        embeddings: np.ndarray,
        threshold: float,
        margin: float = 0.0,
    ):
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(sample_person_ids):
            raise ValueError("embeddings must be (M, D) with one person id per row")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self._emb = emb
        self.people: list[str] = sorted(set(sample_person_ids))
        index = {pid: i for i, pid in enumerate(self.people)}
        # column -> person index, for a per-person max via np.maximum.reduceat over sorted columns
        person_of_sample = np.fromiter((index[p] for p in sample_person_ids), dtype=np.int64, count=len(sample_person_ids))
        order = np.argsort(person_of_sample, kind="stable")
        self._emb = emb[order]
        sorted_people = person_of_sample[order]
        self._starts = np.flatnonzero(np.r_[True, sorted_people[1:] != sorted_people[:-1]]) if len(order) else np.array([], dtype=np.int64)

    @property
    def size(self) -> int:
        return int(self._emb.shape[0])

    @property
    def dim(self) -> int:
        return int(self._emb.shape[1]) if self._emb.ndim == 2 else 0

    def person_scores(self, queries: np.ndarray) -> np.ndarray:
        """(N, P) best-sample similarity of each query to each person (P = len(self.people))."""
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if self.size == 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], len(self.people)), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ValueError(
                f"face embedding has {q.shape[1]} dimensions but the gallery has {self.dim}; "
                "the gallery was made with another model: run 'app.py gallery reindex'"
            )
        sims = q @ self._emb.T  # (N, M): the one vectorised computation
        return np.maximum.reduceat(sims, self._starts, axis=1)

    def match(self, queries: np.ndarray) -> list[MatchResult]:
        q = np.asarray(queries, dtype=np.float32)
        n = 1 if q.ndim == 1 else q.shape[0]
        if self.size == 0:
            return [NO_MATCH] * n
        scores = self.person_scores(q)
        results: list[MatchResult] = []
        if scores.shape[1] == 1:
            best_idx = np.zeros(n, dtype=np.int64)
            best = scores[:, 0]
            second = np.full(n, -1.0, dtype=np.float32)
        else:
            top2 = np.argpartition(-scores, 1, axis=1)[:, :2]
            a = np.take_along_axis(scores, top2, axis=1)
            swap = a[:, 1] > a[:, 0]
            best_idx = np.where(swap, top2[:, 1], top2[:, 0])
            best = np.where(swap, a[:, 1], a[:, 0])
            second = np.where(swap, a[:, 0], a[:, 1])
        for i in range(n):
            pid = self.people[int(best_idx[i])]
            sim = float(best[i])
            ok = sim >= self.threshold and (sim - float(second[i])) >= self.margin
            results.append(MatchResult(ok, pid if ok else None, sim, nearest_id=pid))
        return results

    def match_one(self, query: np.ndarray) -> MatchResult:
        return self.match(np.asarray(query)[None, :] if np.asarray(query).ndim == 1 else query)[0]


def empty_matcher(dim: int, threshold: float, margin: float = 0.0) -> Matcher:
    return Matcher([], np.zeros((0, dim), dtype=np.float32), threshold, margin)
