"""Presence transitions on the harder two-camera footage, per engine, through ``app.py run --headless``.

    .venv/bin/python benchmarks/footage_hard.py [--faces DIR] [--engines buffalo_s,opencv,test_pack,dlib]

Composes the scene of ``tests/compose_footage.py`` (HARD_SCENE: 1280x720, faces 55-90 px, blur, JPEG,
changing light, a walk between cameras, a short gap, a departure and re-entry, two people not enrolled)
once, then for each engine enrolls the three SPGs into a fresh data folder and runs the headless console
on it. Prints one line per engine: transitions found in order, their errors against the truth, false
ABSENT, unknown faces named as an SPG, share of SPG faces identified, face widths. Nothing is asserted:
tests/test_footage_hard.py asserts it for the production packs.
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

from tests.compose_footage import compose_hard_scene, run_hard_scene, score_hard_run  # noqa: E402

MODELS = REPO.parent / "shared" / "data" / "models"
ENGINES = {
    "buffalo_s": {"kind": "insightface", "pack": str(MODELS / "buffalo_s_pack")},
    "opencv": {"kind": "auto", "pack": str(MODELS / "opencv_pack")},
    "test_pack": {"kind": "insightface", "pack": str(MODELS / "test_pack")},
    "dlib": {"kind": "dlib"},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    ap.add_argument("--engines", default=",".join(ENGINES))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        videos = compose_hard_scene(args.faces, folder)
        for name in args.engines.split(","):
            run_dir = folder / name
            run_dir.mkdir()
            t0 = time.monotonic()
            try:
                lines, stderr, rc = run_hard_scene(run_dir, ENGINES[name], videos, args.faces)
            except Exception as exc:  # noqa: BLE001 - one engine that cannot run does not stop the others
                print(f"{name:10s} could not run: {exc}")
                continue
            if rc != 0:
                print(f"{name:10s} exit code {rc}: {stderr.strip().splitlines()[-1:] or ''}")
                continue
            score = score_hard_run(lines)
            frames = sum(1 for x in lines if x.get("type") == "frame")
            print(f"{name:10s} {score.summary()}; {frames} frames processed in {time.monotonic() - t0:.0f} s")
            print(f"{'':10s} errors (s): {[(s, t, e) for s, t, e in score.errors]}")
            wrong = {s: [(f, t) for f, t, _ in v] for s, v in score.actual.items()} if not score.sequences_ok else {}
            if wrong:
                print(f"{'':10s} sequences: {wrong}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
