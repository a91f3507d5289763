"""Faces that matched nobody: kept as crops in ``<data_dir>/unknown/`` for the retention period only.

Biometric data of people who are not SPGs: :class:`UnknownFaceKeeper` saves at most one crop per camera
track, and every crop older than ``storage.unknown_retention_days`` (or beyond ``storage.unknown_max``) is
deleted - when the keeper starts and at most once a minute while it saves. Each crop may carry its face
embedding in a sidecar ``<crop>.json`` (model id + base64 float32; written by the keeper when the caller
has the embedding, else by the unknown-faces panel on first sight), which groups crops into visitors
(:mod:`core.visitors`); a sidecar goes with its crop. Pure: no Qt, no processes.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.atomic import atomic_write_text
from core.config import StorageConfig
from core.image_io import write_image
from core.messages import FrameResult


@dataclass(frozen=True, slots=True)
class UnknownCrop:
    path: Path
    timestamp: float
    camera_id: str

    @property
    def embedding_path(self) -> Path:
        return embedding_path(self.path)


def embedding_path(crop: Path) -> Path:
    return crop.with_suffix(".json")


def store_embedding(crop: Path, model_id: str, embedding: np.ndarray) -> None:
    """Keep the crop's face embedding beside it (deleted with the crop by retention)."""
    vec = np.asarray(embedding, dtype="<f4").ravel()
    atomic_write_text(embedding_path(crop), json.dumps(
        {"model_id": model_id, "embedding": base64.b64encode(vec.tobytes()).decode("ascii")}))


def load_embedding(crop: Path, model_id: str) -> np.ndarray | None:
    """The crop's stored embedding for ``model_id`` (None: none stored, another model's, or unreadable)."""
    try:
        d = json.loads(embedding_path(crop).read_text(encoding="utf-8"))
        if d.get("model_id") != model_id:
            return None
        return np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4").astype(np.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_unknown(folder: Path, storage: StorageConfig, now: float | None = None) -> list[UnknownCrop]:
    """Crops within retention, newest first, at most ``unknown_max``."""
    now = now if now is not None else time.time()
    limit = now - storage.unknown_retention_days * 86400
    out: list[UnknownCrop] = []
    if not folder.is_dir():
        return out
    for p in folder.glob("*.jpg"):
        try:
            ts = p.stat().st_mtime
        except OSError:
            continue
        if ts >= limit:
            cam = p.stem.split("__")[0] if "__" in p.stem else ""
            out.append(UnknownCrop(p, ts, cam))
    out.sort(key=lambda c: c.timestamp, reverse=True)
    return out[: storage.unknown_max]


def visitors_per_hour(folder: Path, storage: StorageConfig, now: float | None = None) -> dict[float, int]:
    """Unknown faces kept (one crop per unknown track) per hour, as {hour start (epoch s): count}, over the
    retention window: the anonymous visitor counts HQ sees (no face data goes with them)."""
    out: dict[float, int] = {}
    for crop in list_unknown(folder, storage, now):
        hour = float(int(crop.timestamp // 3600) * 3600)
        out[hour] = out.get(hour, 0) + 1
    return out


def prune_unknown(folder: Path, storage: StorageConfig, now: float | None = None) -> int:
    """Delete crops older than the retention or beyond ``unknown_max``; returns how many."""
    now = now if now is not None else time.time()
    keep = {c.path for c in list_unknown(folder, storage, now)}
    removed = 0
    if folder.is_dir():
        for p in folder.glob("*.jpg"):
            if p not in keep:
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
        for e in folder.glob("*.json"):  # an embedding is biometric data too: it never outlives its crop
            if not e.with_suffix(".jpg").exists():
                e.unlink(missing_ok=True)
    return removed


def delete_unknown(crops: Sequence[Path]) -> None:
    """Delete crops (the supervisor's Delete) with their embeddings."""
    for p in crops:
        Path(p).unlink(missing_ok=True)
        embedding_path(Path(p)).unlink(missing_ok=True)


class UnknownFaceKeeper:
    """Saves one crop per (camera, track) of faces that matched nobody. Runs in the controller thread.

    A track is kept only after it stayed unknown for ``min_results`` results in a row (identities are
    voted over a few frames, so an SPG is "unknown" for a moment when they appear); a track that was
    ever identified is never kept.
    """

    def __init__(self, folder: Path, storage: StorageConfig, min_face_px: int = 48, min_results: int = 5):
        self.folder = Path(folder)
        self.storage = storage
        self.min_face_px = min_face_px
        self.min_results = min_results
        self._seen: dict[tuple[str, int], float] = {}
        self._unknown_runs: dict[tuple[str, int], int] = {}
        self.saved = 0
        self._last_prune = time.time()
        prune_unknown(self.folder, self.storage, self._last_prune)  # expired crops go at start-up too

    def wanted(self, result: FrameResult) -> list[Any]:
        if self.storage.unknown_retention_days <= 0 or self.storage.unknown_max <= 0:
            return []
        out = []
        for f in result.faces:
            key = (result.camera_id, f.track_id)
            if f.spg_id is not None:
                self._seen[key] = result.timestamp  # identified: never an unknown face
                continue
            if key in self._seen or not f.matchable or (f.bbox[2] - f.bbox[0]) < self.min_face_px:
                continue
            n = self._unknown_runs.get(key, 0) + 1
            self._unknown_runs[key] = n
            if n >= self.min_results:
                out.append(f)
        return out

    def save(self, result: FrameResult, frame: np.ndarray, faces: list[Any],
             embeddings: Sequence[np.ndarray | None] | None = None, model_id: str = "") -> list[Path]:
        """frame: the stored (possibly downscaled) BGR frame; boxes are scaled from original coords.

        ``embeddings`` (one per face, with the ``model_id`` they come from), when the caller has them, are
        stored beside the crops; crops without one get it from the unknown-faces panel."""
        oh, ow = result.frame_shape
        h, w = frame.shape[:2]
        sx, sy = w / max(ow, 1), h / max(oh, 1)
        saved = []
        self.folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(faces):
            self._seen[(result.camera_id, f.track_id)] = result.timestamp
            x1, y1, x2, y2 = f.bbox
            pad = 0.3 * (x2 - x1)
            a, b = int(max(0, (x1 - pad) * sx)), int(max(0, (y1 - pad) * sy))
            c, d = int(min(w, (x2 + pad) * sx)), int(min(h, (y2 + pad) * sy))
            if c - a < 8 or d - b < 8:
                continue
            stamp = datetime.fromtimestamp(result.timestamp).strftime("%Y%m%d_%H%M%S")
            p = self.folder / f"{result.camera_id}__{stamp}_{f.track_id}.jpg"
            if write_image(p, frame[b:d, a:c]):  # any path (cv2.imwrite fails on non-ASCII paths on Windows)
                saved.append(p)
                self.saved += 1
                emb = embeddings[i] if embeddings is not None and i < len(embeddings) else None
                if emb is not None and model_id:
                    store_embedding(p, model_id, emb)
        if len(self._seen) > 5000:
            for k in sorted(self._seen, key=self._seen.__getitem__)[:2500]:
                del self._seen[k]
        if len(self._unknown_runs) > 5000:
            self._unknown_runs.clear()
        now = time.time()
        if now - self._last_prune > 60:
            self._last_prune = now
            prune_unknown(self.folder, self.storage, now)
        return saved
