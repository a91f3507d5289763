"""What the presence fraud checks cost per face, beside the recogniser's own per-face cost, in one run.

    .venv/bin/python benchmarks/liveness_cost.py --packs ../shared/data/models/test_pack ../shared/data/models/buffalo_s_pack
    .venv/bin/python benchmarks/liveness_cost.py --packs <pack> --liveness ../shared/data/models/liveness --repeat 200

Faces: the liveness samples (``../shared/data/liveness``) and the first photos of ``faces/``, found by each
pack's own detector. Per face, the median over ``--repeat`` runs of:

- liveness: the MiniFASNet pair (two crops, two 80x80 sessions, summed softmax: ``core.liveness``);
- embed: the pack's recogniser on one face (align + ``embed_chips`` of one chip) and per face in a batch of 8;
- still face: one ``core.still_face`` update (numpy on 5 points).

ONNX Runtime sessions use the same ``engine.*`` options as the console (one thread per session by default).
The liveness check runs once per new named track and every ``fraud.liveness.recheck_minutes`` after that, so
its cost per processed frame is the per-face figure divided by the frames a track lives. Last lines (parsed
by scripts): ``pack=<name> liveness_ms_per_face=... embed_ms_per_face=... ...``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from core.clock import SystemClock  # noqa: E402
from core.config import AppConfig  # noqa: E402
from core.liveness import liveness_for  # noqa: E402
from core.still_face import StillFaceWatch  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (first run allocates)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _embed_one(engine, img, face) -> None:
    engine.embed_chips([engine.align(img, face)])


def _faces(engine, photos: list[Path]) -> list[tuple[np.ndarray, object]]:
    out = []
    for p in photos:
        img = cv2.imread(str(p))
        faces = engine.detect(img) if img is not None else []
        if faces:
            out.append((img, max(faces, key=lambda f: f.width * f.height)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packs", nargs="+", type=Path,
                    default=[DATA / "models" / "test_pack", DATA / "models" / "buffalo_s_pack",
                             DATA / "models" / "opencv_pack"])
    ap.add_argument("--liveness", type=Path, default=DATA / "models" / "liveness")
    ap.add_argument("--faces", type=Path, default=DATA / "faces")
    ap.add_argument("--people", type=int, default=8, help="first photo of this many people of --faces")
    ap.add_argument("--repeat", type=int, default=100)
    args = ap.parse_args(argv)

    from core.engine.factory import create_engine

    photos = sorted((DATA / "liveness").glob("*.jpg"))
    photos += [sorted(d.glob("*.jpg"))[0] for d in sorted(args.faces.iterdir())[: args.people] if d.is_dir()]
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''}, "
          f"python {platform.python_version()}, {len(photos)} photos")
    for pack in args.packs:
        cfg = AppConfig.model_validate({"engine": {"kind": "auto", "pack": str(pack)},
                                        "fraud": {"liveness": {"enabled": True, "models": str(args.liveness)}}})
        engine = create_engine(cfg.engine, pack.parent)
        checker = liveness_for(cfg.fraud.liveness, cfg.engine, pack.parent)
        faces = _faces(engine, photos)
        widths = [f.width for _, f in faces]
        live, one, batched, still = [], [], [], []
        watch = StillFaceWatch(60.0, 0.03, SystemClock())
        for img, face in faces:
            chip = engine.align(img, face)
            pts = np.asarray(face.landmarks)
            live.append(_median_ms(partial(checker.check, img, face.bbox), args.repeat))
            one.append(_median_ms(partial(_embed_one, engine, img, face), args.repeat))
            batched.append(_median_ms(partial(engine.embed_chips, [chip] * 8), args.repeat) / 8)
            still.append(_median_ms(partial(watch.update, 1, pts, face.width), args.repeat))
        lv, e1, eb, st = (statistics.median(v) for v in (live, one, batched, still))
        print(f"pack={pack.name} engine={engine.info.name} faces={len(faces)} "
              f"(width {min(widths):.0f}-{max(widths):.0f} px) liveness_ms_per_face={lv:.2f} "
              f"embed_ms_per_face={e1:.2f} embed_ms_per_face_batch8={eb:.2f} "
              f"liveness_vs_embed={lv / e1:.2f}x still_face_ms_per_face={st:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
