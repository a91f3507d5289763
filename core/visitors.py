"""Unknown faces grouped into anonymous visitors by their embeddings.

Crops are taken oldest first; each joins the visitor whose centre (mean of its normalised embeddings)
is most similar, when that similarity reaches the threshold (the engine's match threshold: the same
"same person" rule as matching), else it starts a new visitor. Visitors are numbered by first sighting,
so "Visitor 3" keeps its number while its crops are kept. A crop without an embedding (not embedded yet,
or no face found again) is a visitor of its own. Pure: numpy only, the clock is injected (``now``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Sighting:
    path: Path
    timestamp: float
    camera_id: str
    embedding: np.ndarray | None


@dataclass
class Visitor:
    number: int
    sightings: list[Sighting] = field(default_factory=list)
    """Oldest first."""

    @property
    def crops(self) -> list[Path]:
        return [s.path for s in self.sightings]

    @property
    def first_seen(self) -> float:
        return self.sightings[0].timestamp

    @property
    def last_seen(self) -> float:
        return self.sightings[-1].timestamp

    @property
    def cameras(self) -> list[str]:
        return sorted({s.camera_id for s in self.sightings if s.camera_id})

    def seen_on(self, day_of: float, tz: tzinfo | None = None) -> int:
        """How many sightings fell on the calendar day of ``day_of`` (outlet time zone)."""
        day = datetime.fromtimestamp(day_of, tz).date()
        return sum(1 for s in self.sightings if datetime.fromtimestamp(s.timestamp, tz).date() == day)

    @property
    def repeat(self) -> bool:
        """Seen on more than one day: a returning visitor."""
        return len({datetime.fromtimestamp(s.timestamp).date() for s in self.sightings}) > 1


def group_visitors(sightings: Sequence[Sighting], threshold: float) -> list[Visitor]:
    """Visitors, most recently seen first (the panel's order); numbered by first sighting."""
    visitors: list[Visitor] = []
    owners: list[int] = []  # visitor index of each centre row
    centres: list[np.ndarray] = []  # running sum of each embedded visitor's normalised embeddings
    for s in sorted(sightings, key=lambda s: (s.timestamp, str(s.path))):
        e = None if s.embedding is None else np.asarray(s.embedding, np.float32).ravel()
        if e is not None:
            e = e / max(float(np.linalg.norm(e)), 1e-12)
            same_size = [i for i, c in enumerate(centres) if c.shape == e.shape]
            if same_size:
                sums = np.stack([centres[i] for i in same_size])
                sims = (sums @ e) / np.maximum(np.linalg.norm(sums, axis=1), 1e-12)
                k = int(np.argmax(sims))
                if float(sims[k]) >= threshold:
                    row = same_size[k]
                    visitors[owners[row]].sightings.append(s)
                    centres[row] = centres[row] + e
                    continue
            owners.append(len(visitors))
            centres.append(e)
        visitors.append(Visitor(len(visitors) + 1, [s]))
    return sorted(visitors, key=lambda v: -v.last_seen)
