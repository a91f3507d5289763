"""app.py models list | import PATH | download NAME | check : face model packs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import action_options, config_from_args, fail, run_guarded
from core.engine.packs import KNOWN_PACKS, OPENCV_PACKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    action_options(sub.add_parser("list", help="installed packs and the engine the config picks"))
    im = action_options(sub.add_parser("import", help="install a pack from a zip file or a folder"))
    im.add_argument("source", type=Path, metavar="PATH")
    im.add_argument("--name", help="pack name (default: the zip / folder name)")
    dl = action_options(sub.add_parser("download", help="download a pack (needs internet): sface (OpenCV YuNet + SFace, "
                                                        "commercial use allowed) or buffalo_l / buffalo_s / buffalo_sc "
                                                        "(non-commercial research only)"))
    dl.add_argument("name", choices=list(KNOWN_PACKS))
    action_options(sub.add_parser("check", help="load the configured engine and print what runs"))


def _body(args: argparse.Namespace) -> int:
    from core.engine import packs
    from core.paths import DataLayout

    cfg = config_from_args(args)
    data_dir = DataLayout(cfg.resolved_data_dir()).ensure().root
    if args.action == "list":
        found = packs.installed_packs(data_dir)
        for p in found:
            print(f"{p.name}\t{p.kind}\t{p.detector.name} + {p.recogniser.name}\t{p.folder}")
        if not found:
            print(f"no model pack installed in {DataLayout(data_dir).models}", file=sys.stderr)
        print(f"config: engine.kind={cfg.engine.kind} engine.pack={cfg.engine.pack}", file=sys.stderr)
        return 0
    if args.action == "import":
        p = packs.import_pack(args.source, data_dir, name=args.name)
        print(f"installed {p.name} ({p.kind}): {p.detector.name} + {p.recogniser.name} in {p.folder}")
        if cfg.engine.pack != p.name:
            print(f"to use it: set engine.pack: {p.name} in the config (or pass --pack {p.folder})", file=sys.stderr)
        return 0
    if args.action == "download":
        def progress(done: int, total: int) -> None:
            if total:
                bar = "#" * int(30 * done / total)
                print(f"\r{args.name} [{bar:<30}] {done / 1e6:.0f}/{total / 1e6:.0f} MB", end="", file=sys.stderr, flush=True)
            else:
                print(f"\r{args.name} {done / 1e6:.0f} MB", end="", file=sys.stderr, flush=True)

        p = packs.download_pack(args.name, data_dir, progress=progress)
        print("", file=sys.stderr)
        if args.name in OPENCV_PACKS:
            print(f"installed {p.name} in {p.folder} (YuNet: MIT, SFace: Apache-2.0; commercial use allowed).")
        else:
            print(f"installed {p.name} in {p.folder}. Note: buffalo weights are for non-commercial research only.")
        if cfg.engine.pack != p.name:
            print(f"to use it: set engine.pack: {p.name} in the config (engine.kind: auto picks it when the configured "
                  "pack is not installed)", file=sys.stderr)
        return 0
    if args.action == "check":
        from core.engine.factory import create_engine

        e = create_engine(cfg.engine, data_dir)
        i = e.info
        print(f"engine={i.name} model_id={i.model_id} dim={i.embedding_dim} provider={i.provider} "
              f"threshold={i.threshold:.3f} margin={i.margin:.3f} pack={i.pack_path}")
        if i.licence:
            print(f"licence: {i.licence}")
        return 0
    return fail(f"unknown action {args.action}")


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
