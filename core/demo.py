"""The demo outlet: built on first run from images that ship inside installed packages (never
downloaded), so a new user sees the whole console work within a minute.

* Faces come from InsightFace's bundled sample photos (``insightface/data/images``: the ``t1.jpg``
  group photo and ``Tom_Hanks_54745.png``) and scikit-image's ``astronaut()``.
* Four demo SPGs are enrolled with the best engine this PC has without a download (:func:`demo_engine`):
  with ``engine.kind: auto``, an installed OpenCV pack (YuNet + SFace: commercially usable, the most
  accurate and fastest measured here), else the configured / any installed pack, else the offline dlib
  engine. An explicit ``engine.kind`` is kept.
* Two demo cameras play footage composed here with ``cv2.VideoWriter``: the SPGs (and one visitor
  who is not enrolled) walk into and out of a shop scene. One SPG leaves early and does not come
  back within the loop, so with the demo's short presence timings an absent alert fires in the
  console after about half a minute (Telegram stays off).

Everything lives in ``<data_dir>/demo/`` (its own gallery, database and footage), so the demo never
mixes with the outlet's real SPGs.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from core.config import AppConfig, EngineConfig
from core.image_io import read_image, write_image
from core.paths import DataLayout

log = logging.getLogger(__name__)

DEMO_VERSION = 1
FPS = 10
SIZE = (800, 450)  # width, height
LOOP_S = 60.0
FACE_H = 170  # pasted face crop height in the footage (pixels)


@dataclass(frozen=True)
class DemoPerson:
    key: str
    spg_id: str | None  # None = a visitor who is not enrolled
    name: str


PEOPLE = (
    DemoPerson("astronaut", "demo_ayu", "Ayu (demo)"),
    DemoPerson("hanks", "demo_budi", "Budi (demo)"),
    DemoPerson("t1_a", "demo_citra", "Citra (demo)"),
    DemoPerson("t1_b", "demo_dewi", "Dewi (demo)"),
    DemoPerson("t1_c", None, "visitor"),
)

# camera -> [(person key, enter_s, leave_s, x position as fraction of the width)]
SCRIPT: dict[str, list[tuple[str, float, float, float]]] = {
    "demo_entrance": [("astronaut", -1.0, 99.0, 0.22), ("hanks", -1.0, 10.0, 0.62), ("t1_c", 20.0, 32.0, 0.80)],
    "demo_counter": [("t1_a", -1.0, 99.0, 0.28), ("t1_b", 6.0, 99.0, 0.70)],
}
CAMERA_NAMES = {"demo_entrance": "Entrance (demo)", "demo_counter": "Counter (demo)"}


@dataclass(frozen=True)
class DemoOutlet:
    data_dir: Path
    config: AppConfig
    people: tuple[DemoPerson, ...] = PEOPLE


def demo_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "demo"


def source_images() -> dict[str, np.ndarray]:
    """The bundled pictures (BGR), read from the installed packages."""
    import insightface
    import skimage.data

    images_dir = Path(insightface.__file__).resolve().parent / "data" / "images"
    out: dict[str, np.ndarray] = {}
    for key, name in (("t1", "t1.jpg"), ("hanks", "Tom_Hanks_54745.png")):
        img = read_image(images_dir / name)  # any path (cv2.imread fails on non-ASCII paths on Windows)
        if img is None:
            raise FileNotFoundError(f"demo picture {images_dir / name} is missing from the insightface package")
        out[key] = img
    out["astronaut"] = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[no-untyped-call]
    return out


def _crop(img: np.ndarray, bbox: Any, margin: float = 0.6) -> np.ndarray:
    x1, y1, x2, y2 = [float(v) for v in bbox]
    w, h = x2 - x1, y2 - y1
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2 - 0.05 * h))
    c, d = int(min(img.shape[1], cx + side / 2)), int(min(img.shape[0], cy + side / 2))
    return img[b:d, a:c].copy()


def face_crops(engine: Any) -> dict[str, np.ndarray]:
    """person key -> a face crop with some context, found with the engine's own detector."""
    src = source_images()
    crops: dict[str, np.ndarray] = {}
    # t1.jpg: six people; take the largest faces, left to right, for deterministic picks
    t1 = src["t1"]
    faces = sorted(engine.detect(t1), key=lambda f: -f.area)[:6]
    if len(faces) < 3:
        raise RuntimeError(f"the face engine found only {len(faces)} faces in the demo group photo")
    faces = sorted(faces, key=lambda f: float(f.bbox[0]))
    picks = {"t1_a": faces[0], "t1_b": faces[len(faces) // 2], "t1_c": faces[-1]}
    for key, f in picks.items():
        crops[key] = _crop(t1, f.bbox)
    for key in ("astronaut", "hanks"):
        img = src[key]
        if key == "hanks":  # a 112x112 aligned face: give the detector some room around it
            img = cv2.copyMakeBorder(cv2.resize(img, (224, 224), interpolation=cv2.INTER_CUBIC), 60, 60, 60, 60,
                                     cv2.BORDER_REPLICATE)
        found = sorted(engine.detect(img), key=lambda f: -f.area)
        if not found:
            raise RuntimeError(f"the face engine found no face in the demo picture '{key}'")
        crops[key] = _crop(img, found[0].bbox)
    return crops


def _background(camera_id: str, title: str | None = None) -> np.ndarray:
    w, h = SIZE
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = np.array([200, 215, 225] if camera_id == "demo_entrance" else [215, 205, 190], np.float32)
    bg = np.empty((h, w, 3), np.float32)
    bg[:] = base
    bg *= (0.7 + 0.3 * y)[:, :, None]
    bg = bg.astype(np.uint8)
    floor = int(h * 0.78)
    bg[floor:] = (120, 130, 140)
    for i, x in enumerate(range(20, w, 190)):  # shelves
        cv2.rectangle(bg, (x, int(h * 0.15)), (x + 150, floor - 10), (90 + 10 * i % 60, 120, 160), -1)
        for sy in range(int(h * 0.2), floor - 20, 45):
            cv2.line(bg, (x, sy), (x + 150, sy), (60, 80, 110), 3)
    cv2.putText(bg, title or CAMERA_NAMES.get(camera_id, camera_id), (12, h - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return bg


def _paste(frame: np.ndarray, crop: np.ndarray, cx: float, cy: float, height: int) -> None:
    scale = height / crop.shape[0]
    face = cv2.resize(crop, (max(8, int(crop.shape[1] * scale)), height), interpolation=cv2.INTER_LINEAR)
    fh, fw = face.shape[:2]
    mask = np.zeros((fh, fw), np.float32)
    cv2.ellipse(mask, (fw // 2, fh // 2), (int(fw * 0.47), int(fh * 0.49)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, fw * 0.03))[:, :, None]
    x0, y0 = int(cx - fw / 2), int(cy - fh / 2)
    H, W = frame.shape[:2]
    a, b, c, d = max(0, x0), max(0, y0), min(W, x0 + fw), min(H, y0 + fh)
    if c <= a or d <= b:
        return
    region = frame[b:d, a:c].astype(np.float32)
    f = face[b - y0:d - y0, a - x0:c - x0].astype(np.float32)
    m = mask[b - y0:d - y0, a - x0:c - x0]
    frame[b:d, a:c] = (region * (1 - m) + f * m).astype(np.uint8)


def position(t: float, enter: float, leave: float, x_frac: float) -> float | None:
    """x centre of a person at time t (walks in from the left edge, out to the right), None = absent."""
    w = SIZE[0]
    walk = 1.5
    if t < enter or t > leave + walk:
        return None
    x = x_frac * w
    if t < enter + walk:
        return -FACE_H + (x + FACE_H) * (t - enter) / walk
    if t > leave:
        return x + (w + FACE_H - x) * (t - leave) / walk
    return x


def compose_footage(path: Path, camera_id: str, crops: dict[str, np.ndarray], seconds: float = LOOP_S,
                    script: list[tuple[str, float, float, float]] | None = None, title: str | None = None) -> Path:
    """Write an mp4 where the people in ``script`` [(crop key, enter_s, leave_s, x fraction)] walk in and out."""
    w, h = SIZE
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write the demo video {path} (OpenCV has no mp4 writer here)")
    bg = _background(camera_id, title)
    script = script if script is not None else SCRIPT[camera_id]
    try:
        for i in range(int(seconds * FPS)):
            t = i / FPS
            frame = bg.copy()
            for key, enter, leave, x_frac in script:
                x = position(t, enter, leave, x_frac)
                if x is not None:
                    bob = 4 * math.sin(2 * math.pi * (t * 0.5 + x_frac))
                    _paste(frame, crops[key], x, h * 0.45 + bob, FACE_H)
            writer.write(frame)
    finally:
        writer.release()
    return path


def demo_engine(engine: EngineConfig, data_dir: Path) -> EngineConfig:
    """The engine config the demo runs: with ``kind: auto``, an OpenCV pack when one is installed (the configured
    pack first), so the demo shows the engine an outlet may use commercially; packs as absolute folders,
    because the demo's data dir has no models/ of its own. Other kinds are kept as configured."""
    from core.engine import packs
    from core.engine.base import ModelPackError

    if engine.kind == "dlib":
        return engine
    try:
        configured: packs.PackFiles | None = packs.find_pack(engine.pack, data_dir)
    except ModelPackError:
        configured = None
    pick = configured
    if engine.kind == "auto" and (configured is None or configured.kind != "opencv"):
        pick = next((p for p in packs.installed_packs(data_dir) if p.kind == "opencv"), configured)
    if pick is None:
        return engine  # the factory falls back (auto) or says how to get the pack
    if pick is not configured:
        log.info("demo outlet: using the OpenCV pack %s (installed, commercially usable)", pick.folder)
    return engine.model_copy(update={"pack": str(pick.folder.resolve())})


def demo_config(base: AppConfig, outlet_dir: Path, data_dir: Path) -> AppConfig:
    """Demo cameras (looping files), short presence timings, Telegram off, the demo's engine."""
    data = base.model_dump(mode="python")
    data["engine"] = demo_engine(base.engine, data_dir).model_dump(mode="python")
    data["outlet"].update({"id": "demo", "name": "Demo outlet"})
    data["cameras"] = [
        {"id": cid, "name": CAMERA_NAMES[cid], "source": str(outlet_dir / "footage" / f"{cid}.mp4"), "enabled": True, "loop": True}
        for cid in SCRIPT
    ]
    data["camera"]["process_fps"] = 5.0
    data["presence"].update({"grace_seconds": 4.0, "absent_seconds": 12.0, "confirm_hits": 2, "confirm_window_s": 5.0,
                             "default_shift": {}})
    data["telegram"]["enabled"] = False
    data["telegram"].pop("token", None)
    data["telegram"].pop("chat_id", None)
    data["data_dir"] = None
    return AppConfig.model_validate(data)


def build_demo(data_dir: Path, base: AppConfig, engine: Any = None,
               progress: Callable[[str], None] | None = None) -> DemoOutlet:
    """Build the demo outlet into ``<data_dir>/demo`` (reused when already built with this engine)."""
    say = progress or (lambda _msg: None)
    root = demo_dir(data_dir)
    layout = DataLayout(root).ensure()
    cfg = demo_config(base, root, data_dir)
    marker = root / "demo.json"
    if engine is None:
        from core.engine.factory import create_engine

        say("loading the face engine")
        engine = create_engine(cfg.engine, data_dir)
    model_id = engine.info.model_id
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    videos_ok = all((root / "footage" / f"{cid}.mp4").is_file() for cid in SCRIPT)
    if info.get("version") == DEMO_VERSION and info.get("model_id") == model_id and videos_ok:
        return DemoOutlet(root, cfg)

    say("finding the demo faces")
    crops = face_crops(engine)
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    from core.enrollment import enroll_photos
    from core.gallery import Gallery

    gallery = Gallery(layout.gallery)
    for person in PEOPLE:
        if person.spg_id is None:
            continue
        p = photos / f"{person.spg_id}.jpg"
        write_image(p, crops[person.key], [cv2.IMWRITE_JPEG_QUALITY, 95])
        try:
            gallery.remove(person.spg_id)
        except Exception:  # noqa: BLE001 - not enrolled yet
            pass
        say(f"enrolling {person.name}")
        enroll_photos(engine, gallery, person.spg_id, person.name, [p])
    for cid in SCRIPT:
        say(f"composing the footage of {CAMERA_NAMES[cid]}")
        compose_footage(root / "footage" / f"{cid}.mp4", cid, crops)
    marker.write_text(json.dumps({"version": DEMO_VERSION, "model_id": model_id}), encoding="utf-8")
    return DemoOutlet(root, cfg)
