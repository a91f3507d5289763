"""``app.py report --from YYYY-MM-DD --to YYYY-MM-DD --format csv|xlsx --out FILE [--spg ID ...]``
``app.py report --monthly YYYY-MM --out FILE.xlsx [--spg ID ...]``

Attendance per SPG per day from the events database of the data dir (see core/reports.py), or the month's
matrix (SPG x day: hours or a code; core/monthly_report.py; an .xlsx gets its CSV alongside).
``--jsonl FILE`` also exports the raw events in the seed's events.jsonl format.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from cli.common import config_from_args, fail, run_guarded


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31") from None


def _month(text: str) -> tuple[int, int]:
    from core.monthly_report import parse_month

    try:
        return parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--monthly", type=_month, metavar="YYYY-MM",
                   help="the month's matrix (SPG x day: hours or L/A/OFF/HOL/H) instead of the daily sheet")
    p.add_argument("--format", choices=("csv", "xlsx"), default=None, help="default: from the --out extension")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--spg", action="append", default=None, metavar="ID", help="only this SPG (repeatable)")
    p.add_argument("--jsonl", metavar="FILE", help="also export the raw events (events.jsonl format)")


def _body(args: argparse.Namespace) -> int:
    from core.events_backend import EventStoreError
    from core.events_db import EventStore
    from core.events_export import export_jsonl
    from core.paths import DataLayout
    from core.reports import export_report

    cfg = config_from_args(args)
    out = Path(args.out).expanduser()
    fmt = args.format or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    if args.monthly is None and (args.date_from is None or args.date_to is None):
        return fail("give --from and --to (the daily sheet), or --monthly YYYY-MM (the month's matrix)")
    if args.monthly is not None and (args.date_from is not None or args.date_to is not None):
        return fail("--monthly covers the whole month; leave out --from / --to")
    if args.monthly is None and args.date_to < args.date_from:
        return fail(f"--to {args.date_to} is before --from {args.date_from}")
    db = DataLayout(cfg.resolved_data_dir()).events_db
    if not db.exists():
        return fail(f"{db}: no events database yet (has the console run with this data folder?)")
    try:
        store = EventStore(db)
    except EventStoreError as exc:
        return fail(str(exc))
    try:
        if args.monthly is not None:
            from core.monthly_report import export_monthly, month_days

            year, month = args.monthly
            days = month_days(year, month)
            args.date_from, args.date_to = days[0], days[-1]
            path = export_monthly(store, cfg, year, month, args.spg, fmt, out)
            if fmt == "xlsx":
                print(f"CSV alongside: {path.with_suffix('.csv')}")
        else:
            path = export_report(store, cfg, args.date_from, args.date_to, args.spg, fmt, out)
        if args.jsonl:
            from zoneinfo import ZoneInfo

            from core.shifts import day_bounds

            tz = ZoneInfo(cfg.outlet.timezone)
            n = export_jsonl(store, Path(args.jsonl).expanduser(), day_bounds(args.date_from, tz)[0],
                             day_bounds(args.date_to, tz)[1], args.spg)
            print(f"{n} events -> {args.jsonl}")
    except OSError as exc:
        return fail(f"{out}: cannot write the report ({exc.strerror or exc}). Is it open in Excel?")
    finally:
        store.close()
    print(f"report written: {path}")
    return 0


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
