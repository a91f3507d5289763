"""SPG Presence Console - the single entry point.

    python app.py                      open the console (GUI)
    python app.py --demo               open the console on the demo outlet
    python app.py --selftest           check an install (engine, SharedMemory, a worker process)
    python app.py hq --db URL          open the HQ console (outlets, alerts, export across outlets)
    python app.py enroll|identify|gallery|run|report|calendar|models ...   headless subcommands (see --help)

--config FILE, --data-dir DIR and --pack DIR work before the subcommand and after it alike.
Config load order: see core/config.py (app.yaml, the data folder's settings.yaml and .env, --config, flags).
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import sys

# name -> module in cli/ with add_arguments(parser) and main(args) -> int
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "enroll": ("cli.enroll", "Enroll an SPG from photo files"),
    "identify": ("cli.identify", "Identify the faces in photos (one JSON object per face)"),
    "gallery": ("cli.gallery", "List, remove or re-index enrolled SPGs; sync them with HQ (gallery sharing)"),
    "run": ("cli.run", "Run the camera pipeline (use --headless for no GUI)"),
    "report": ("cli.report", "Export an attendance report (CSV or Excel; --monthly YYYY-MM for the month's matrix)"),
    "calendar": ("cli.day_calendar", "Check or import the holiday / day-off calendar from a CSV"),
    "models": ("cli.models", "Import, download or inspect face model packs"),
    "hq": ("cli.hq", "The brand's central database: init, add-outlet, add-reader, outlets, events, gallery (no action: HQ console)"),
}


def add_common_options(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """--config / --data-dir / --pack, before the subcommand (global) or after it: both mean the same.

    After the subcommand they default to SUPPRESS, so an option given only before it is not reset to None
    by the subcommand's parser (argparse's default behaviour); given twice, the later one wins."""
    default = argparse.SUPPRESS if subcommand else None
    parser.add_argument("--config", metavar="FILE", default=default,
                        help="YAML config file, applied over configs/app.yaml and the data folder's settings.yaml")
    parser.add_argument("--data-dir", metavar="DIR", default=default,
                        help="data folder (gallery, database, logs, model packs); beats SPG_DATA_DIR")
    parser.add_argument("--pack", metavar="DIR", default=default, help="face model pack folder to use")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="SPG Presence Console")
    add_common_options(parser)
    parser.add_argument("--demo", action="store_true", help="open the demo outlet")
    parser.add_argument("--selftest", action="store_true", help="check this install and exit")
    parser.add_argument("--screenshot", metavar="PNG", help="with the GUI: save a screenshot and exit")
    parser.add_argument("--after", type=float, default=5.0, metavar="SECONDS", help="when to take --screenshot")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        add_common_options(sp, subcommand=True)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            sp.set_defaults(_missing=module_name)
            continue
        module.add_arguments(sp)
        sp.set_defaults(_handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from cli.selftest import main as selftest_main

        return selftest_main(args)
    if getattr(args, "_missing", None):
        parser.error(f"'{args.command}' is not available in this build")
    # `run` without --headless is the console: app.py opens it, so cli/ never imports ui/
    if args.command is None or (args.command == "run" and not args.headless):
        from ui.launch import main as gui_main

        return gui_main(args)
    # `hq` without an action is the HQ console (the same Qt application, no cameras)
    if args.command == "hq" and args.hq_action is None:
        from ui.hq_launch import main as hq_main

        return hq_main(args)
    return int(args._handler(args) or 0)


def ensure_std_streams() -> None:
    """A windowed executable (Windows double-click) has no console: sys.stdout / sys.stderr are None, and a
    library that writes to them (tqdm progress bars, warnings) would crash the console. Point them at devnull
    and note it in SPG_NO_CONSOLE (the self-test then shows its result in a message box)."""
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            os.environ["SPG_NO_CONSOLE"] = "1"
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (lives as long as the process)


if __name__ == "__main__":
    ensure_std_streams()  # first, so spawned children of the windowed executable get them too
    multiprocessing.freeze_support()  # Windows frozen executables: children re-enter here
    sys.exit(main())
