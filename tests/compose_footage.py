"""Compose test footage from real face photos on a timeline (for pipeline, presence and GUI tests).

    from tests.compose_footage import Appearance, compose_video
    compose_video(tmp / "shop.mp4", [Appearance(FACES / "Tony_Blair/Tony_Blair_0006.jpg", 0.0, 4.0, (0.3, 0.5)),
                                     Appearance(FACES / "Laura_Bush/Laura_Bush_0006.jpg", 2.0, 6.0, (0.7, 0.5))],
                  fps=15, size=(1280, 720))

Each appearance pastes the whole photo (scaled to ``height`` x frame height, centred at ``center`` given as
fractions of the frame) from ``start`` to ``end`` seconds, optionally drifting by ``drift`` (fractions per
second) so trackers see motion, optionally blurred (``blur``: Gaussian sigma in pixels of the pasted photo).
The background is a plain textured shop-grey. ``lighting(t)`` scales the whole frame's brightness (lights
that change) and ``jpeg_quality`` passes every frame through JPEG first (a cheap camera's compression).
Returns the path.

The harder two-camera scene of issue 10 (faces 55-90 px wide, blurred, JPEG-degraded, changing light; a
walk from one camera to the other, a short gap, a departure and a re-entry, two people not enrolled) is
:func:`compose_hard_scene`, with its ground truth in :data:`HARD_TRUTH`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np


@dataclass(frozen=True)
class Appearance:
    photo: Path | str | np.ndarray
    start: float
    end: float
    center: tuple[float, float] = (0.5, 0.5)
    height: float = 0.45
    """Pasted photo height as a fraction of the frame height."""
    drift: tuple[float, float] = (0.0, 0.0)
    blur: float = 0.0
    """Gaussian blur sigma (pixels of the pasted photo); 0 = sharp."""
    jpeg_quality: int | None = None
    """The pasted photo passes through JPEG at this quality (a cheap camera's compression)."""


def _load(photo: Path | str | np.ndarray) -> np.ndarray:
    if isinstance(photo, np.ndarray):
        return photo
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read photo {photo}")
    return img


def _background(w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    bg = np.full((h, w, 3), (118, 112, 104), np.uint8)
    noise = rng.integers(0, 12, (h // 8 + 1, w // 8 + 1, 1), dtype=np.uint8)
    bg = cv2.add(bg, cv2.resize(noise, (w, h), interpolation=cv2.INTER_NEAREST)[:, :, None].repeat(3, 2))
    return bg


def compose_video(path: Path | str, timeline: Sequence[Appearance], fps: float = 15.0,
                  size: tuple[int, int] = (1280, 720), seconds: float | None = None,
                  lighting: Callable[[float], float] | None = None, jpeg_quality: int | None = None) -> Path:
    """Write an mp4 (``size`` = (width, height)) showing the timeline's photos; returns the path."""
    path = Path(path)
    w, h = size
    seconds = seconds if seconds is not None else max((a.end for a in timeline), default=1.0)
    photos = [_load(a.photo) for a in timeline]
    bg = _background(w, h)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not vw.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    try:
        for i in range(max(1, int(round(seconds * fps)))):
            t = i / fps
            frame = bg.copy()
            for a, img in zip(timeline, photos):
                if not a.start <= t < a.end:
                    continue
                ph = max(8, int(a.height * h))
                pw = max(8, int(img.shape[1] * ph / img.shape[0]))
                chip = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA if ph < img.shape[0] else cv2.INTER_CUBIC)
                if a.blur > 0:
                    chip = cv2.GaussianBlur(chip, (0, 0), a.blur)
                if a.jpeg_quality is not None:
                    ok, buf = cv2.imencode(".jpg", chip, [int(cv2.IMWRITE_JPEG_QUALITY), int(a.jpeg_quality)])
                    chip = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                cx = (a.center[0] + a.drift[0] * (t - a.start)) * w
                cy = (a.center[1] + a.drift[1] * (t - a.start)) * h
                x1, y1 = int(cx - pw / 2), int(cy - ph / 2)
                fx1, fy1, fx2, fy2 = max(0, x1), max(0, y1), min(w, x1 + pw), min(h, y1 + ph)
                if fx2 > fx1 and fy2 > fy1:
                    frame[fy1:fy2, fx1:fx2] = chip[fy1 - y1:fy2 - y1, fx1 - x1:fx2 - x1]
            if lighting is not None:
                frame = cv2.convertScaleAbs(frame, alpha=float(lighting(t)), beta=0)
            if jpeg_quality is not None:
                ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
                frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            vw.write(frame)
    finally:
        vw.release()
    return path


# --- the harder two-camera scene (issue 10) ---------------------------------------------------------
HARD_FPS = 10.0
HARD_PROCESS_FPS = 10.0
"""A paced file camera sends about every second frame at its own rate (it decides before the paced read),
so the pipeline processes about 5 frames a second per camera, the outlet default."""
LEAD_S = 5.0
"""Nobody in view at first: the inference server may still be loading its engine."""
HARD_LENGTH_S = LEAD_S + 40.0
HARD_DRIFT = 0.0005
"""Everyone sways a little (fraction of the frame width per second), so trackers see motion."""
HARD_PRESENCE = {"grace_seconds": 2.0, "absent_seconds": 6.0, "confirm_hits": 2, "confirm_window_s": 2.0,
                 "hit_log_interval_s": 1.0}
# spg id -> (person in faces/, photos used to enroll; the footage shows photo 6, never enrolled)
HARD_SPGS = {"walker": ("Tony_Blair", [1, 2, 3, 4]), "gappy": ("Colin_Powell", [1, 2, 3, 4]),
             "leaver": ("Laura_Bush", [1, 2, 3, 4])}
HARD_NAMES = {"walker": "Tony Blair", "gappy": "Colin Powell", "leaver": "Laura Bush"}
HARD_UNKNOWN = ("Hugo_Chavez", "Junichiro_Koizumi")
_L, _E = LEAD_S, HARD_LENGTH_S
# camera -> [(who, start, end, centre x, height fraction, blur sigma)]; who = an spg id or an unknown person
HARD_SCENE = {
    "cam_a": [("walker", _L + 0.0, _L + 16.0, 0.18, 0.27, 1.2),  # walks over to cam_b, seen there 0.6 s later
              ("gappy", _L + 1.0, _L + 10.0, 0.50, 0.22, 1.4),   # out of view 3 s: grace only
              ("gappy", _L + 13.0, _E, 0.50, 0.22, 1.4),
              (HARD_UNKNOWN[0], _L + 2.0, _L + 34.0, 0.82, 0.25, 1.0)],
    "cam_b": [("walker", _L + 16.6, _E, 0.22, 0.29, 1.0),
              ("leaver", _L + 0.5, _L + 11.0, 0.52, 0.24, 1.6),  # leaves for 14 s: one real absence, re-entry
              ("leaver", _L + 25.0, _E, 0.52, 0.24, 1.6),
              (HARD_UNKNOWN[1], _L + 4.0, _L + 36.0, 0.84, 0.23, 1.2)],
}
_G, _A = HARD_PRESENCE["grace_seconds"], HARD_PRESENCE["absent_seconds"]
# (spg, from, to, video second of what causes it on that camera, then seconds of real time until it is due)
HARD_TRUTH = [
    ("walker", "not_seen", "present", _L + 0.0, "cam_a", 0.0),
    ("gappy", "not_seen", "present", _L + 1.0, "cam_a", 0.0),
    ("gappy", "present", "grace", _L + 10.0, "cam_a", _G),
    ("gappy", "grace", "present", _L + 13.0, "cam_a", 0.0),
    ("leaver", "not_seen", "present", _L + 0.5, "cam_b", 0.0),
    ("leaver", "present", "grace", _L + 11.0, "cam_b", _G),
    ("leaver", "grace", "absent", _L + 11.0, "cam_b", _A),
    ("leaver", "absent", "present", _L + 25.0, "cam_b", 0.0),
]


def _hard_lighting(cam: str) -> Callable[[float], float]:
    if cam == "cam_a":  # daylight drifting through a window
        return lambda t: 0.8 + 0.3 * float(np.sin(2 * np.pi * t / 18.0))
    return lambda t: 1.15 if t < LEAD_S + 20.0 else 0.6  # the shop lights are dimmed


def compose_hard_scene(faces_dir: Path, folder: Path) -> dict[str, Path]:
    """Two 1280x720 videos (``cam_a.mp4``, ``cam_b.mp4``) of :data:`HARD_SCENE`; returns camera -> path."""
    out = {}
    for cam, items in HARD_SCENE.items():
        timeline = []
        for who, start, end, x, height, blur in items:
            person = HARD_SPGS[who][0] if who in HARD_SPGS else who
            photo = Path(faces_dir) / person / f"{person}_0006.jpg"
            timeline.append(Appearance(photo, start, end, (x, 0.5), height, (HARD_DRIFT, 0.0), blur, jpeg_quality=30))
        out[cam] = compose_video(Path(folder) / f"{cam}.mp4", timeline, fps=HARD_FPS, size=(1280, 720),
                                 seconds=HARD_LENGTH_S, lighting=_hard_lighting(cam))
    return out


def hard_enroll_photos(faces_dir: Path) -> dict[str, list[Path]]:
    return {spg: [Path(faces_dir) / p / f"{p}_{i:04d}.jpg" for i in nums] for spg, (p, nums) in HARD_SPGS.items()}


@dataclass
class HardScore:
    """How a run on the hard scene compares with :data:`HARD_TRUTH`."""

    errors: list[tuple[str, str, float]]
    """(spg, 'from->to', transition time minus truth, seconds) for every truth transition found in order."""
    sequences_ok: bool
    """Every SPG went through exactly the truth's transitions, in order (no flap, no false ABSENT)."""
    false_absent: int
    unknown_named: int
    """Faces of the two people not enrolled that were given an SPG's id (frames), plus their transitions."""
    wrong_name: int
    """Faces of an SPG given another SPG's id (frames)."""
    identified: float
    """Share of the SPGs' faces (frames) named correctly."""
    face_widths: tuple[float, float, float]
    """min, median, max width in pixels of the faces found at the scene's positions."""
    actual: dict[str, list[tuple[str, str, float]]]

    def summary(self) -> str:
        errs = [abs(e) for _, _, e in self.errors]
        return (f"transitions {len(self.errors)}/{len(HARD_TRUTH)} in order={self.sequences_ok}, "
                f"max error {max(errs, default=float('nan')):.2f} s, mean {float(np.mean(errs)) if errs else float('nan'):.2f} s; "
                f"false ABSENT {self.false_absent}; unknown named as SPG {self.unknown_named}; "
                f"SPG named wrongly {self.wrong_name}; SPG faces identified {self.identified:.0%}; "
                f"face width px min/median/max {self.face_widths[0]:.0f}/{self.face_widths[1]:.0f}/{self.face_widths[2]:.0f}")


def _who(cam: str, bbox: Sequence[float], vt: float | None = None) -> str | None:
    """Who of the scene stands where this face was found (and, with ``vt``, is in view then)."""
    cx = (bbox[0] + bbox[2]) / 2 / 1280.0
    for who, a, b, px, _, _ in HARD_SCENE.get(cam, []):
        if abs(px + HARD_DRIFT * (max(vt or a, a) - a) - cx) < 0.06 and (vt is None or a - 0.5 <= vt < b + 0.5):
            return who
    return None


def _origin(cam: str, frames: Sequence[dict]) -> float:
    """Wall time of the camera's video second 0 (a file camera is paced in real time), from when faces
    (anyone's: detection only) appear and disappear at the scene's known places and times."""
    seen: dict[tuple[str, float], list[float]] = {}
    for x in frames:
        if x["camera_id"] != cam:
            continue
        for f in x["faces"]:
            cx = (f["bbox"][0] + f["bbox"][2]) / 2 / 1280.0
            for who, _a, _b, px, _, _ in HARD_SCENE[cam]:
                if abs(px - cx) < 0.06:
                    seen.setdefault((who, px), []).append(x["timestamp"])
    est = []
    for who, a, b, px, _, _ in HARD_SCENE[cam]:
        ts = sorted(seen.get((who, px), []))
        if not ts:
            continue
        # several spans at one place: the first sighting after the gap before this one
        spans = sorted((s, e) for w, s, e, p, _, _ in HARD_SCENE[cam] if (w, p) == (who, px))
        k = spans.index((a, b))
        if k == 0:
            est.append(ts[0] - a)
        if k == len(spans) - 1 and b < HARD_LENGTH_S:
            est.append(ts[-1] - b)
    return float(np.median(est)) if est else float("nan")


def score_hard_run(lines: Sequence[dict]) -> HardScore:
    """Score the JSON lines of ``app.py run --headless --results`` on the hard scene."""
    frames = [x for x in lines if x.get("type") == "frame"]
    origin = {cam: _origin(cam, frames) for cam in HARD_SCENE}

    def wall_of(cam: str, vt: float) -> float:
        return origin[cam] + vt

    def at(x: dict) -> float:
        return x["timestamp"] - origin[x["camera_id"]]

    widths, spg_faces, right, unknown_named, wrong = [], 0, 0, 0, 0
    for x in frames:
        cam, vt = x["camera_id"], at(x)
        for f in x["faces"]:
            who = _who(cam, f["bbox"], vt)
            if who is None:
                continue
            widths.append(f["bbox"][2] - f["bbox"][0])
            if who in HARD_SPGS:
                spg_faces += 1
                right += f["spg_id"] == who
                wrong += f["spg_id"] not in (None, who)
            elif f["spg_id"]:
                unknown_named += 1
    trans = [x for x in lines if x.get("type") == "transition"]
    unknown_named += sum(1 for t in trans if t["spg_id"] not in HARD_SPGS)
    actual: dict[str, list[tuple[str, str, float]]] = {}
    for t in trans:
        actual.setdefault(t["spg_id"], []).append((t["from"], t["to"], t["timestamp"]))
    errors, ok = [], True
    for spg in HARD_SPGS:
        want = [(f, to, vt, cam, after) for s, f, to, vt, cam, after in HARD_TRUTH if s == spg]
        got = actual.get(spg, [])
        ok &= [(f, to) for f, to, _ in got] == [(f, to) for f, to, _, _, _ in want]
        for (f, to, vt, cam, after), (gf, gto, ts) in zip(want, got):
            if (f, to) == (gf, gto):
                errors.append((spg, f"{f}->{to}", round(ts - (wall_of(cam, vt) + after), 3)))
    truth_absent = sum(1 for t in HARD_TRUTH if t[2] == "absent")
    false_absent = max(0, sum(1 for t in trans if t["to"] == "absent") - truth_absent)
    w = sorted(widths) or [float("nan")]
    return HardScore(errors, ok, false_absent, unknown_named, wrong, right / spg_faces if spg_faces else 0.0,
                     (w[0], w[len(w) // 2], w[-1]), actual)


def run_hard_scene(folder: Path, engine: dict, videos: dict[str, Path], faces_dir: Path,
                   extra_seconds: float = 8.0, timeout_s: float = 400.0) -> tuple[list[dict], str, int]:
    """Enroll :data:`HARD_SPGS` with ``engine`` (an ``engine:`` config section) into ``folder/data``, then run
    ``app.py run --headless`` on the two cameras until the footage is over. Returns (JSON lines, stderr, exit code)."""
    import json
    import os
    import subprocess
    import sys

    import yaml

    from core.config import AppConfig
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    repo = Path(__file__).resolve().parent.parent
    folder = Path(folder)
    data = folder / "data"
    cfg_data = {
        "outlet": {"name": "Toko Footage", "timezone": "Asia/Jakarta", "language": "en"},
        "engine": engine,
        "camera": {"process_fps": HARD_PROCESS_FPS},
        "cameras": [{"id": cam, "name": cam, "source": str(path), "loop": False} for cam, path in videos.items()],
        "presence": HARD_PRESENCE,
        "telegram": {"enabled": False},
    }
    cfg = AppConfig.model_validate(cfg_data)
    layout = DataLayout(data).ensure()
    eng = create_engine(cfg.engine, layout.root)
    gallery = Gallery(layout.gallery)
    for spg, photos in hard_enroll_photos(faces_dir).items():
        enroll_photos(eng, gallery, spg, HARD_NAMES[spg], photos, cfg=cfg.engine)
    del eng
    cfg_file = folder / "hard.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_data), encoding="utf-8")
    results = folder / "results.jsonl"
    env = {**os.environ, "SPG_DATA_DIR": str(data)}
    proc = subprocess.run([sys.executable, str(repo / "app.py"), "run", "--headless", "--config", str(cfg_file),
                           "--duration", str(HARD_LENGTH_S + extra_seconds), "--results", str(results)],
                          capture_output=True, text=True, timeout=timeout_s, env=env, cwd=str(repo))
    lines = [json.loads(x) for x in results.read_text(encoding="utf-8").splitlines() if x.strip()] \
        if results.exists() else []
    return lines, proc.stderr, proc.returncode
