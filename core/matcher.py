"""Match face embeddings against the gallery: one vectorised dot product per frame.

All query faces (N, D) against all gallery samples (M, D) in one matrix product. Per person the
samples give one score (``scoring``: the best sample, the person's template = mean of the normalised
samples, or both averaged; ``benchmarks/multi_sample.py`` measures them and ``DEFAULT_SCORING`` is the
winner). A match needs the best person's score >= threshold AND a margin over the second-best person
(an ambiguous face is not a match).

Negative samples ("this is not X", stored by the supervisor): a face whose nearest negative of X is at
least as close as X's own score is never named X; X then drops out of that face's ranking, so the
face is matched among the other people or is unknown. Empty gallery: every face is
``MatchResult(False, None, 0.0)`` and detection goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

Scoring = Literal["best", "template", "best+template"]
SCORINGS: tuple[Scoring, ...] = ("best", "template", "best+template")
DEFAULT_SCORING: Scoring = "template"
"""Measured by benchmarks/multi_sample.py (README, "Several photos per SPG")."""


@dataclass(frozen=True, slots=True)
class MatchResult:
    is_match: bool
    spg_id: str | None
    similarity: float
    """Best person's similarity (cosine); for a non-match, of the nearest person (0.0 if none)."""
    nearest_id: str | None = None
    """Nearest person even when not a match (for 'looks like another SPG' warnings)."""
    vetoed: tuple[str, ...] = ()
    """People this face was NOT allowed to be named because a negative sample of theirs is closer."""

    def as_tuple(self) -> tuple[bool, str | None, float]:
        return self.is_match, self.spg_id, self.similarity


NO_MATCH = MatchResult(False, None, 0.0)


def _normalised(rows: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(n, 1e-12), dtype=np.float32)


def _group(person_ids: Sequence[str], index: dict[str, int], emb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by person: (rows, start of each person's run, person index of each run)."""
    if not len(person_ids):
        return emb, np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    owner = np.fromiter((index[p] for p in person_ids), dtype=np.int64, count=len(person_ids))
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    return emb[order], starts, owner[starts]


class Matcher:
    """Immutable snapshot of the gallery for one embedding space. Build a new one on gallery change."""

    def __init__(
        self,
        sample_person_ids: Sequence[str],
        embeddings: np.ndarray,
        threshold: float,
        margin: float = 0.0,
        *,
        negative_person_ids: Sequence[str] = (),
        negatives: np.ndarray | None = None,
        scoring: Scoring = DEFAULT_SCORING,
    ):
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(sample_person_ids):
            raise ValueError("embeddings must be (M, D) with one person id per row")
        if scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, not {scoring!r}")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.scoring: Scoring = scoring
        self.people: list[str] = sorted(set(sample_person_ids))
        index = {pid: i for i, pid in enumerate(self.people)}
        self._emb, self._starts, _ = _group(sample_person_ids, index, emb)
        self._templates = (_normalised(np.add.reduceat(self._emb, self._starts, axis=0))
                           if len(self._starts) else np.zeros((0, emb.shape[1]), np.float32))
        # negatives of people who have no positive sample here (deactivated) can veto nobody: dropped
        neg = np.asarray(negatives, np.float32) if negatives is not None else np.zeros((0, emb.shape[1]), np.float32)
        if neg.shape[0] != len(negative_person_ids):
            raise ValueError("negatives must be (K, D) with one person id per row")
        keep = [i for i, p in enumerate(negative_person_ids) if p in index]
        self._neg, self._neg_starts, self._neg_owner = _group(
            [negative_person_ids[i] for i in keep], index, neg[keep] if keep else np.zeros((0, emb.shape[1]), np.float32))

    @property
    def size(self) -> int:
        return int(self._emb.shape[0])

    @property
    def dim(self) -> int:
        return int(self._emb.shape[1]) if self._emb.ndim == 2 else 0

    @property
    def negative_count(self) -> int:
        return int(self._neg.shape[0])

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if self.size and q.shape[0] and q.shape[1] != self.dim:
            raise ValueError(
                f"face embedding has {q.shape[1]} dimensions but the gallery has {self.dim}; "
                "the gallery was made with another model: run 'app.py gallery reindex'"
            )
        return q

    def person_scores(self, queries: np.ndarray) -> np.ndarray:
        """(N, P) similarity of each query to each person (P = len(self.people)), by ``self.scoring``."""
        q = self._queries(queries)
        if self.size == 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], len(self.people)), dtype=np.float32)
        best: np.ndarray = np.maximum.reduceat(q @ self._emb.T, self._starts, axis=1)  # (N, M): the one big product
        if self.scoring == "best":
            return best
        template: np.ndarray = q @ self._templates.T
        return template if self.scoring == "template" else np.asarray((best + template) / 2, dtype=np.float32)

    def negative_scores(self, queries: np.ndarray) -> np.ndarray:
        """(N, P) similarity of each query to each person's nearest negative sample (-inf: none)."""
        q = self._queries(queries)
        out = np.full((q.shape[0], len(self.people)), -np.inf, dtype=np.float32)
        if self.negative_count and q.shape[0]:
            out[:, self._neg_owner] = np.maximum.reduceat(q @ self._neg.T, self._neg_starts, axis=1)
        return out

    def match(self, queries: np.ndarray) -> list[MatchResult]:
        q = self._queries(queries)
        n = q.shape[0]
        if self.size == 0:
            return [NO_MATCH] * n
        scores = self.person_scores(q)
        vetoed = self.negative_scores(q) >= scores
        ranked = np.where(vetoed, -np.inf, scores)
        results: list[MatchResult] = []
        for i in range(n):
            order = np.argsort(-ranked[i], kind="stable")[:2]
            vetoes = tuple(self.people[j] for j in np.flatnonzero(vetoed[i]))
            if not np.isfinite(ranked[i, order[0]]):  # every person vetoed for this face
                j = int(np.argmax(scores[i]))
                results.append(MatchResult(False, None, float(scores[i, j]), nearest_id=self.people[j], vetoed=vetoes))
                continue
            pid = self.people[int(order[0])]
            sim = float(ranked[i, order[0]])
            second = float(ranked[i, order[1]]) if len(order) > 1 and np.isfinite(ranked[i, order[1]]) else -1.0
            ok = sim >= self.threshold and (sim - second) >= self.margin
            results.append(MatchResult(ok, pid if ok else None, sim, nearest_id=pid, vetoed=vetoes))
        return results

    def match_one(self, query: np.ndarray) -> MatchResult:
        return self.match(np.asarray(query)[None, :] if np.asarray(query).ndim == 1 else query)[0]


def empty_matcher(dim: int, threshold: float, margin: float = 0.0) -> Matcher:
    return Matcher([], np.zeros((0, dim), dtype=np.float32), threshold, margin)
