"""Look-alike SPGs: pairs whose enrolled faces are so close that the matcher will confuse them.

A pair is a look-alike when the most similar pair of their samples reaches ``threshold - margin``: a
photo of one then lands at (or within the margin of) the other's match threshold, so it is named
wrongly or left unknown as ambiguous. The gallery manager lists these pairs; enrollment warns with
the same rule, naming the other SPG. Pure: numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.gallery import Gallery


@dataclass(frozen=True, slots=True)
class Lookalike:
    spg_a: str
    spg_b: str
    similarity: float
    """Cosine similarity of the closest pair of samples (one of each SPG)."""


def lookalike_limit(threshold: float, margin: float) -> float:
    """Similarity from which two SPGs count as look-alikes."""
    return float(threshold) - float(margin)


def _closest_by_person(ids: Sequence[str], mat: np.ndarray, queries: np.ndarray) -> dict[str, np.ndarray]:
    """person -> (Q,) best similarity of each query to that person's samples."""
    sims = np.asarray(queries, np.float32) @ np.asarray(mat, np.float32).T
    out: dict[str, np.ndarray] = {}
    for pid in dict.fromkeys(ids):
        cols = [i for i, p in enumerate(ids) if p == pid]
        out[pid] = sims[:, cols].max(axis=1)
    return out


def lookalike_pairs(ids: Sequence[str], mat: np.ndarray, threshold: float, margin: float) -> list[Lookalike]:
    """Every pair of different SPGs whose closest samples reach the look-alike limit, closest first."""
    if len(ids) < 2:
        return []
    limit = lookalike_limit(threshold, margin)
    people = sorted(set(ids))
    rows = {pid: [i for i, p in enumerate(ids) if p == pid] for pid in people}
    sims = np.asarray(mat, np.float32) @ np.asarray(mat, np.float32).T
    pairs: list[Lookalike] = []
    for a_i, a in enumerate(people):
        for b in people[a_i + 1:]:
            s = float(sims[np.ix_(rows[a], rows[b])].max())
            if s >= limit:
                pairs.append(Lookalike(a, b, s))
    return sorted(pairs, key=lambda p: -p.similarity)


def lookalikes_of(new_embeddings: np.ndarray, ids: Sequence[str], mat: np.ndarray, own_id: str,
                  threshold: float, margin: float) -> list[tuple[str, float]]:
    """(other SPG, similarity) for each other SPG the new faces of ``own_id`` would be confused with."""
    others = [i for i, p in enumerate(ids) if p != own_id]
    if not others or len(new_embeddings) == 0:
        return []
    best = _closest_by_person([ids[i] for i in others], np.asarray(mat)[others], new_embeddings)
    limit = lookalike_limit(threshold, margin)
    hits = [(pid, float(v.max())) for pid, v in best.items() if float(v.max()) >= limit]
    return sorted(hits, key=lambda h: -h[1])


def gallery_model(gallery: Gallery, preferred: str | None = None) -> str | None:
    """The embedding model to judge the gallery by: ``preferred`` (the loaded engine's) when samples
    have it, else the model most samples are embedded with (no engine needs loading for that)."""
    counts: dict[str, int] = {}
    for p in gallery.people():
        for s in p.samples:
            for model_id in s.embeddings:
                counts[model_id] = counts.get(model_id, 0) + 1
    if preferred and preferred in counts:
        return preferred
    return max(counts, key=lambda k: counts[k]) if counts else None


def gallery_lookalikes(gallery: Gallery, model_id: str, threshold: float, margin: float) -> list[Lookalike]:
    """Look-alike pairs among the gallery's active SPGs for one model."""
    ids, mat = gallery.matrix(model_id)
    return lookalike_pairs(ids, mat, threshold, margin) if ids else []
