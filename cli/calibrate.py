"""Calibrate a face model's recognition threshold on real faces; prints the line for resources/thresholds.yaml.

    .venv/bin/python -m cli.calibrate --pack DIR (any pack kind) | --engine dlib [--faces DIR] [--max-far 0.002]

A maintainer's tool (not an app.py subcommand): it needs ``../shared/data/faces``. The arithmetic lives in
:mod:`core.engine.calibration`; this module only loads an engine and embeds the photos.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from core.config import EngineConfig
from core.engine.calibration import calibrate
from core.engine.factory import create_engine
from core.enrollment import embed_dominant_face
from core.paths import shared_data_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Calibrate the recognition threshold of a face model")
    ap.add_argument("--faces", type=Path, default=shared_data_dir() / "faces")
    ap.add_argument("--pack", help="model pack folder (InsightFace or OpenCV; its kind picks the engine)")
    ap.add_argument("--engine", choices=["auto", "insightface", "opencv", "dlib"], default="auto")
    ap.add_argument("--max-far", type=float, default=0.002)
    args = ap.parse_args(argv)
    cfg = EngineConfig(kind=args.engine, pack=args.pack or "buffalo_l")
    engine = create_engine(cfg, Path(tempfile.mkdtemp()))
    labels, rows = [], []
    for person in sorted(p for p in args.faces.iterdir() if p.is_dir()):
        for photo in sorted(person.iterdir()):
            try:
                emb = embed_dominant_face(engine, photo)[0]
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"skip {photo.name}: {exc}")
                continue
            labels.append(person.name)
            rows.append(emb)
    cal = calibrate(labels, np.stack(rows), args.max_far)
    print(f"{engine.info.model_id}: threshold={cal.threshold:.3f} genuine_accept={cal.genuine_accept:.3f} "
          f"impostor_accept={cal.impostor_accept:.4f} ({cal.n_genuine} genuine / {cal.n_impostor} impostor pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
