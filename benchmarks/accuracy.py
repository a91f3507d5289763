"""Identification accuracy of a face engine over a folder of people, through the app's own code.

    .venv/bin/python benchmarks/accuracy.py --faces ../shared/data/faces [--pack DIR | --engine dlib]

``--pack`` takes any pack folder (InsightFace or OpenCV YuNet + SFace): the pack's kind picks the engine, as
``engine.kind: auto`` does. Every figure is at the engine's calibrated operating point
(``resources/thresholds.yaml``, or the pack's own thresholds.yaml).

1. Closed set: enrolls the first photo (sorted by name) of each person folder with
   ``core.enrollment.enroll_photos`` into a temporary gallery and identifies the person's other photos
   (their dominant face) with ``core.identify.matcher_for`` / ``core.matcher.Matcher``:
   rank-1 = nearest enrolled person is right; TMR = matched (threshold + margin) to the right person.
2. Open set: enrolls only every other person and counts how often a photo of a person NOT enrolled
   is matched to anyone (FPIR, false positive identification rate) at the operating threshold.
ms_per_face = detect + align + embed time per probe face. Last line (parsed by scripts):
``rank1=0.xxx tmr=0.xxx fpir=0.xxx ms_per_face=N``. Several ``--pack`` (and ``--engine dlib``) compare engines in
one run: each line is then prefixed with the engine's label, and ms_per_face is timed side by side, photo by
photo in turn, so a busy machine slows every engine alike.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def people_photos(faces: Path) -> dict[str, list[Path]]:
    out = {}
    for d in sorted(p for p in faces.iterdir() if p.is_dir()):
        photos = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            out[d.name] = photos
    return out


def probe_embedding(engine, photo: Path) -> tuple[np.ndarray | None, float]:
    """Embedding of the photo's dominant (else most prominent) face, and the seconds it took."""
    from core.enrollment import read_image
    from core.face_quality import prominence

    img = read_image(photo)
    t0 = time.perf_counter()
    faces = engine.detect(img)
    if not faces:
        return None, time.perf_counter() - t0
    face = max(faces, key=lambda f: prominence(f, img.shape))
    emb = engine.embed_chips([engine.align(img, face)])[0]
    return emb, time.perf_counter() - t0


def run(engine, faces_dir: Path, out=print) -> dict[str, float]:
    from core.enrollment import EnrollmentError, enroll_photos
    from core.gallery import Gallery
    from core.identify import matcher_for

    people = people_photos(faces_dir)
    names = list(people)
    tmp = Path(tempfile.mkdtemp(prefix="spg_bench_"))
    g_all = Gallery(tmp / "all")
    g_half = Gallery(tmp / "half")
    half = set(names[::2])
    enrolled: set[str] = set()
    for i, name in enumerate(names):
        sid = f"p{i:03d}"
        try:
            enroll_photos(engine, g_all, sid, name, [people[name][0]])
            enrolled.add(name)
            if name in half:
                enroll_photos(engine, g_half, sid, name, [people[name][0]])
        except EnrollmentError as exc:
            out(f"  not enrolled: {name}: {exc}")
    id_of = {f"p{i:03d}": n for i, n in enumerate(names)}
    m_all, m_half = matcher_for(g_all, engine), matcher_for(g_half, engine)

    rank1 = tmr = wrong = n_known = 0
    fp = n_unknown = 0
    secs, n_faces = 0.0, 0
    for name in names:
        for k, photo in enumerate(people[name]):
            emb, dt = probe_embedding(engine, photo)
            secs += dt
            n_faces += emb is not None
            if k > 0 and name in enrolled:  # closed set probe
                n_known += 1
                if emb is not None:
                    scores = m_all.person_scores(emb)[0]
                    rank1 += id_of[m_all.people[int(np.argmax(scores))]] == name
                    r = m_all.match_one(emb)
                    tmr += r.is_match and id_of[r.spg_id] == name
                    wrong += r.is_match and id_of[r.spg_id] != name
            if name not in half:  # open set: this person is unknown to g_half
                n_unknown += 1
                if emb is not None and m_half.match_one(emb).is_match:
                    fp += 1
    res = {
        "rank1": rank1 / max(1, n_known), "tmr": tmr / max(1, n_known), "wrong": wrong / max(1, n_known),
        "fpir": fp / max(1, n_unknown), "ms_per_face": 1000 * secs / max(1, n_faces),
        "n_known": n_known, "n_unknown": n_unknown, "people": len(names), "enrolled": len(enrolled),
    }
    return res


def interleaved_ms_per_face(engines: dict, faces_dir: Path, rounds: int = 2) -> dict[str, float]:
    """ms per face of each engine, timed photo by photo in turn (the order rotating), so a machine that is busy
    with something else slows every engine alike and the figures compare."""
    photos = [p for ps in people_photos(faces_dir).values() for p in ps]
    secs = dict.fromkeys(engines, 0.0)
    n = dict.fromkeys(engines, 0)
    names = list(engines)
    for r in range(rounds):
        for k, photo in enumerate(photos):
            shift = (k + r) % len(names)
            for name in names[shift:] + names[:shift]:
                emb, dt = probe_embedding(engines[name], photo)
                if emb is not None:
                    secs[name] += dt
                    n[name] += 1
    return {name: 1000 * secs[name] / max(1, n[name]) for name in names}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, required=True, help="folder of person folders with photos")
    ap.add_argument("--pack", action="append", default=[],
                    help="model pack folder, any kind (or a name under the data dir's models/); repeat to compare")
    ap.add_argument("--engine", action="append", default=[], choices=["auto", "insightface", "opencv", "dlib"],
                    help="engine kind (default: auto, i.e. what the pack holds, with --pack); "
                         "with several --pack, only 'dlib' adds the offline engine to the comparison")
    ap.add_argument("--data-dir", type=Path, help="data dir with model packs (default: the configured one)")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    from core.config import EngineConfig, load_config
    from core.engine.factory import create_engine

    base = load_config().engine
    data_dir = args.data_dir or load_config().resolved_data_dir()
    if len(args.pack) <= 1 and len(args.engine) <= 1:  # one engine
        kind = (args.engine or ["auto" if args.pack else base.kind])[0]
        specs = [(kind, (args.pack or [base.pack])[0])]
    else:  # a side-by-side comparison
        specs = [("auto", p) for p in args.pack] + [("dlib", base.pack) for k in args.engine if k == "dlib"]
    engines: dict = {}
    results: dict = {}
    for kind, pack in specs:
        cfg = EngineConfig.model_validate({**base.model_dump(), "kind": kind, "pack": pack})
        engine = create_engine(cfg, data_dir)
        i = engine.info
        label = i.name if kind == "dlib" else f"{Path(pack).name}"
        print(f"engine {label}: {i.name} {i.model_id} ({i.embedding_dim}-d, {i.provider}), threshold {i.threshold:.3f}, "
              f"margin {i.margin:.3f}")
        res = run(engine, args.faces)
        print(f"  closed set: {res['enrolled']}/{res['people']} people enrolled from one photo, {res['n_known']} other "
              f"photos: rank-1 {res['rank1']:.3f}, identified {res['tmr']:.3f}, as someone else {res['wrong']:.3f}")
        print(f"  open set: {res['n_unknown']} photos of people not enrolled, matched to someone {res['fpir']:.3f}")
        engines[label], results[label] = engine, res
    if len(engines) > 1:
        print("timing the engines side by side, photo by photo ...")
        for label, ms in interleaved_ms_per_face(engines, args.faces).items():
            results[label]["ms_per_face"] = ms
    for label, res in results.items():
        prefix = f"{label}: " if len(results) > 1 else ""
        print(f"{prefix}rank1={res['rank1']:.3f} tmr={res['tmr']:.3f} fpir={res['fpir']:.3f} ms_per_face={res['ms_per_face']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
