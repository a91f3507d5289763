"""app.py enroll --id ID --name NAME PHOTO... : enroll an SPG from photo files;
``--add-to-existing`` adds photos of the same person to an enrolled SPG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import config_from_args, fail, run_guarded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, dest="spg_id", help="SPG id (letters, digits, _ - .)")
    parser.add_argument("--name", default="", help="the SPG's name as shown in the console (needed for a new SPG)")
    parser.add_argument("--add-to-existing", action="store_true",
                        help="the id is already enrolled and these photos are of that same person: add them")
    parser.add_argument("--notes", default=None, help="free text kept with the SPG")
    parser.add_argument("--strict", action="store_true", help="refuse everything if any photo is refused")
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")


def _body(args: argparse.Namespace) -> int:
    from core.engine.factory import create_engine
    from core.enrollment import EnrollmentError, enroll_photos
    from core.gallery import Gallery, GalleryError
    from core.paths import DataLayout

    cfg = config_from_args(args)
    layout = DataLayout(cfg.resolved_data_dir()).ensure()
    engine = create_engine(cfg.engine, layout.root)
    gallery = Gallery(layout.gallery)
    try:
        report = enroll_photos(engine, gallery, args.spg_id, args.name, list(args.photos), cfg=cfg.engine,
                               notes=args.notes, strict=args.strict, add_to_existing=args.add_to_existing)
    except EnrollmentError as exc:
        return fail(f"{exc} Nothing was enrolled ({exc.reason}).")
    except GalleryError as exc:
        return fail(str(exc))
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    person = gallery.get(report.spg_id)
    total = person.sample_count if person else len(report.added)
    verb = "added photos to" if args.add_to_existing else "enrolled"
    print(f"{verb} {report.spg_id} ({report.name}): {len(report.added)} photo(s) added, {total} in total "
          f"[{engine.info.model_id}]")
    return 0


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
