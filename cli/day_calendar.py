"""``app.py calendar check FILE`` / ``app.py calendar import FILE [--replace]`` / ``app.py calendar list``

The holiday and day-off calendar from a CSV (format: :mod:`core.day_calendar`), read by the same loader as
the Settings dialog's "Import CSV…" button. ``import`` saves into the data folder's settings.yaml, as the
Settings dialog does (a day already there for the same SPG and outlet is replaced; ``--replace`` drops the
old calendar first). Entries for another outlet (``outlet_id``) are left out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import action_options, config_from_args, fail, run_guarded


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = action_options(sub.add_parser("check", help="read a calendar CSV and list its days (nothing saved)"))
    check.add_argument("file", metavar="FILE")
    imp = action_options(sub.add_parser("import", help="add the days of a calendar CSV to this outlet's settings"))
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--replace", action="store_true", help="drop the calendar saved so far first")
    action_options(sub.add_parser("list", help="the days in this outlet's calendar"))


def _line(e: object) -> str:
    from core.config import CalendarEntry

    assert isinstance(e, CalendarEntry)
    who = e.spg_id or "everyone"
    times = f" {e.start:%H:%M}-{e.end:%H:%M}" if e.start and e.end else ""
    where = f" (outlet {e.outlet_id})" if e.outlet_id else ""
    return f"{e.date.isoformat()}  {e.kind:<8} {who}{times}{where}  {e.name}".rstrip()


def _body(args: argparse.Namespace) -> int:
    from core.config import save_config, settings_file
    from core.day_calendar import CalendarCsvError, load_calendar_csv, merge_entries

    cfg = config_from_args(args)
    if args.action == "list":
        for e in cfg.attendance.calendar:
            print(_line(e))
        return 0
    try:
        entries = load_calendar_csv(Path(args.file).expanduser())
    except CalendarCsvError as exc:
        return fail(f"{exc}. Nothing was imported.")
    mine = [e for e in entries if not e.outlet_id or e.outlet_id == cfg.outlet.id]
    for e in mine:
        print(_line(e))
    skipped = len(entries) - len(mine)
    if args.action == "check":
        print(f"{len(mine)} day(s) for outlet {cfg.outlet.id}; {skipped} for other outlets")
        return 0
    old = [] if args.replace else list(cfg.attendance.calendar)
    cfg.attendance.calendar = merge_entries(old, mine)
    path = settings_file(cfg.resolved_data_dir())
    try:
        save_config(cfg, path)
    except OSError as exc:
        return fail(f"{path}: cannot save the settings ({exc.strerror or exc})")
    print(f"{len(mine)} day(s) imported into {path} ({skipped} for other outlets left out); "
          f"the calendar now has {len(cfg.attendance.calendar)} day(s)")
    return 0


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
