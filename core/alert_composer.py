"""What an alert says and shows: its text in the outlet's language and the SPG's face photo.

The attendance service decides WHEN an alert is due; this module only composes it. It keeps the newest
face crop of every SPG (at most one a second, cut from the frame only when one is due) so that an
ABSENT alert can carry the last face the console saw.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from core.alert_templates import AlertTemplates, fmt_duration, fmt_time
from core.events_backend import EventStoreError
from core.presence import State, Transition

log = logging.getLogger(__name__)

CROP_EVERY_S = 1.0


def crop_face(frame: np.ndarray, bbox: tuple[float, float, float, float], original: tuple[int, int] | None,
              margin: float = 0.4) -> np.ndarray | None:
    """The face box (original coordinates) with a margin, from ``frame`` (possibly downscaled)."""
    h, w = frame.shape[:2]
    sx = sy = 1.0
    if original and original[0] and original[1]:
        sy, sx = h / float(original[0]), w / float(original[1])
    x1, y1, x2, y2 = bbox
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    a, b = int(max(0, (x1 - mx) * sx)), int(max(0, (y1 - my) * sy))
    c, d = int(min(w, (x2 + mx) * sx)), int(min(h, (y2 + my) * sy))
    if c - a < 4 or d - b < 4:
        return None
    return np.ascontiguousarray(frame[b:d, a:c]).copy()


class AlertComposer:
    def __init__(self, cfg: Any, store: Any):
        self.cfg = cfg
        self.store = store
        self.tz = ZoneInfo(cfg.outlet.timezone)
        self.templates = AlertTemplates(cfg.outlet.language)
        self._crops: dict[str, np.ndarray] = {}
        self._crop_at: dict[str, float] = {}

    # --- face photos ---------------------------------------------------------------------------
    def wants_face(self, spg_id: str, mono: float) -> bool:
        return mono - self._crop_at.get(spg_id, -1e18) >= CROP_EVERY_S

    def keep_face(self, spg_id: str, frame: np.ndarray, bbox: tuple[float, float, float, float],
                  original: tuple[int, int] | None, mono: float) -> None:
        crop = crop_face(frame, bbox, original)
        if crop is not None:
            self._crops[spg_id] = crop
            self._crop_at[spg_id] = mono

    def forget(self, spg_id: str) -> None:
        """No photo of a removed SPG may go out later."""
        self._crops.pop(spg_id, None)
        self._crop_at.pop(spg_id, None)

    def photo(self, spg_id: str) -> bytes | None:
        crop = self._crops.get(spg_id)
        return None if crop is None else self.encode(crop)

    def encode(self, crop: np.ndarray) -> bytes | None:
        """A face crop as the JPEG an alert carries (None when photos are off or encoding fails)."""
        if not self.cfg.telegram.send_photo:
            return None
        try:
            ok, buf = cv2.imencode(".jpg", crop, [int(cv2.IMWRITE_JPEG_QUALITY), 85])
            return bytes(buf) if ok else None
        except cv2.error:  # the text alone still goes out
            log.exception("snapshot encoding failed")
            return None

    # --- texts ---------------------------------------------------------------------------------
    def absent_text(self, t: Transition) -> str:
        ls = t.last_seen
        return self.templates.render(
            "absent", name=t.name, outlet=self.cfg.outlet.name,
            last_seen=fmt_time(ls, self.tz, with_date=False) if ls else self.templates.raw("never"),
            camera=t.camera_id or "-", away=fmt_duration((t.timestamp - ls) if ls else 0.0))

    def return_text(self, t: Transition) -> str:
        try:
            prev = self.store.transitions_between(0.0, t.timestamp + 1e-6, [t.spg_id])
        except EventStoreError as exc:  # the alert goes out without "away for"
            log.warning("%s", exc)
            prev = []
        away_since = next((p.last_seen for p in reversed(prev) if p.to_state == State.ABSENT.value), None)
        away = (t.timestamp - away_since) if away_since else 0.0
        return self.templates.render("returned", name=t.name, outlet=self.cfg.outlet.name, camera=t.camera_id or "-",
                                     time=fmt_time(t.timestamp, self.tz), away=fmt_duration(away))

    def fraud_text(self, name: str, camera: str, kind: str, ts: float) -> str:
        """'possible photo or screen at camera X' (``kind``: which check flagged it, a core.messages.Fraud)."""
        why = self.templates.raw("fraud_still_face" if kind == "still_face" else "fraud_liveness")
        return self.templates.render("possible_spoof", name=name, outlet=self.cfg.outlet.name, camera=camera,
                                     time=fmt_time(ts, self.tz), why=why)

    def camera_offline_text(self, camera: str, since: float) -> str:
        return self.templates.render("camera_offline", camera=camera, outlet=self.cfg.outlet.name,
                                     since=fmt_time(since, self.tz, with_date=True))

    def camera_online_text(self, camera: str, since: float, now: float) -> str:
        return self.templates.render("camera_online", camera=camera, outlet=self.cfg.outlet.name,
                                     time=fmt_time(now, self.tz), away=fmt_duration(now - since))
