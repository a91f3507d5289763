"""Per-model recognition thresholds: stored in ``resources/thresholds.yaml``, calibrated on real faces.

``thresholds_for(model_id)`` gives the stored (threshold, margin); the config's ``engine.threshold`` /
``engine.margin`` override them (see :func:`resolve_threshold`). ``calibrate`` measures genuine and
impostor similarities over a ``faces/<person>/`` folder and picks the threshold that keeps the impostor
false-match rate under a target while accepting as many genuine pairs as possible.

``python -m cli.calibrate --pack DIR`` (any pack kind) or ``--engine dlib`` prints new numbers.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.paths import RESOURCES_DIR

log = logging.getLogger(__name__)

THRESHOLDS_FILE = RESOURCES_DIR / "thresholds.yaml"
_FALLBACK = (0.40, 0.05)


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError) as exc:  # yaml errors are ValueErrors
        log.warning("cannot read %s (%s); using built-in thresholds", THRESHOLDS_FILE, exc)
        data = {}
    return data if isinstance(data, dict) else {}


def thresholds_for(model_id: str) -> tuple[float, float]:
    """(threshold, margin) stored for this embedding model, else the default entry."""
    table = _table()
    entry = (table.get("models") or {}).get(model_id)
    if entry is None:
        entry = table.get("default") or {}
        log.info("no calibrated threshold for %s; using the default (%s)", model_id, entry or _FALLBACK)
    return float(entry.get("threshold", _FALLBACK[0])), float(entry.get("margin", _FALLBACK[1]))


PACK_THRESHOLDS_FILE = "thresholds.yaml"
"""Optional file inside a model pack folder: ``threshold: 0.35`` / ``margin: 0.05`` calibrated for that pack."""


def pack_thresholds(pack_folder: Path | None) -> dict[str, Any]:
    if pack_folder is None:
        return {}
    f = Path(pack_folder) / PACK_THRESHOLDS_FILE
    if not f.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        return {k: float(data[k]) for k in ("threshold", "margin") if k in data}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("ignoring %s (%s); using the stored thresholds", f, exc)
        return {}


def resolve_threshold(model_id: str, threshold: float | None, margin: float | None,
                      pack_folder: Path | None = None) -> tuple[float, float]:
    """Config override (if not None) > the pack's own thresholds.yaml > resources/thresholds.yaml."""
    t, m = thresholds_for(model_id)
    own = pack_thresholds(pack_folder)
    t, m = own.get("threshold", t), own.get("margin", m)
    return (t if threshold is None else float(threshold)), (m if margin is None else float(margin))


@dataclass(frozen=True)
class Calibration:
    threshold: float
    genuine_accept: float
    """Share of same-person pairs at or above the threshold."""
    impostor_accept: float
    """Share of different-person pairs at or above the threshold."""
    n_genuine: int
    n_impostor: int


def calibrate(labels: list[str], embeddings: np.ndarray, max_far: float = 0.002) -> Calibration:
    """The lowest threshold whose impostor accept rate (all different-person pairs) is <= ``max_far``."""
    emb = np.asarray(embeddings, dtype=np.float32)
    sims = emb @ emb.T
    lab = np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    iu = np.triu_indices(len(lab), k=1)
    s, g = sims[iu], same[iu]
    genuine, impostor = np.sort(s[g]), np.sort(s[~g])
    if len(impostor) == 0 or len(genuine) == 0:
        raise ValueError("calibration needs at least two people with two photos each")
    k = int(np.floor(max_far * len(impostor)))
    # threshold just above the (k+1)-th highest impostor similarity
    thr = float(impostor[len(impostor) - 1 - k]) + 1e-4
    thr = float(np.ceil(thr * 200) / 200)  # round up to a multiple of 0.005
    return Calibration(
        threshold=thr,
        genuine_accept=float(np.mean(genuine >= thr)),
        impostor_accept=float(np.mean(impostor >= thr)),
        n_genuine=len(genuine),
        n_impostor=len(impostor),
    )

