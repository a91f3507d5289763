"""app.py identify PHOTO... : one JSON object per face: {"file", "bbox", "spg_id", "similarity"}."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from cli.common import config_from_args, run_guarded

if TYPE_CHECKING:
    import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")


def face_record(file: str, bbox: Sequence[float] | np.ndarray, spg_id: str | None, similarity: float) -> dict[str, Any]:
    return {"file": file, "bbox": [round(float(v), 1) for v in bbox], "spg_id": spg_id,
            "similarity": round(float(similarity), 4)}


def _body(args: argparse.Namespace) -> int:
    from core.engine.factory import create_engine
    from core.enrollment import EnrollmentError, read_image
    from core.gallery import Gallery
    from core.identify import identify_image, matcher_for
    from core.paths import DataLayout

    cfg = config_from_args(args)
    layout = DataLayout(cfg.resolved_data_dir()).ensure()
    engine = create_engine(cfg.engine, layout.root)
    gallery = Gallery(layout.gallery)
    matcher = matcher_for(gallery, engine)
    if matcher.size == 0:
        print("note: the gallery is empty (nobody enrolled for this model); every face is unknown", file=sys.stderr)
    code = 0
    for photo in args.photos:
        try:
            image = read_image(photo, cfg.engine)
        except EnrollmentError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = 1
            continue
        found = identify_image(engine, matcher, image)
        if not found:
            print(f"note: no face in {photo}", file=sys.stderr)
        for item in found:
            print(json.dumps(face_record(str(photo), item.face.bbox, item.result.spg_id, item.result.similarity)), flush=True)
    return code


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
