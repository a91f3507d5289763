"""The holiday and day-off calendar: which days differ from an SPG's weekly pattern, and its CSV import.

An entry (:class:`core.config.CalendarEntry`) is a public holiday, a day off or a one-day shift, for everyone
at the outlet or for one SPG, at every outlet or at one (``outlet_id``). For an SPG on a day, their own entry
wins over the outlet-wide one.

CSV (UTF-8, a header row, any column order; only ``date`` and ``kind`` are required)::

    date,kind,spg_id,outlet_id,name,start,end
    2026-03-31,holiday,,,Idul Fitri,,
    2026-01-05,off,ana,,,,
    2026-01-06,shift,ana,outlet_01,,13:00,21:00

Every problem is reported with its line and column (:class:`CalendarCsvError`); nothing is imported from a
file with a problem.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from core.config import CalendarEntry

CSV_COLUMNS = ("date", "kind", "spg_id", "outlet_id", "name", "start", "end")
REQUIRED_COLUMNS = ("date", "kind")
KIND_ALIASES = {"holiday": "holiday", "hol": "holiday", "libur nasional": "holiday", "off": "off",
                "day off": "off", "libur": "off", "shift": "shift"}


class CalendarCsvError(ValueError):
    """A calendar CSV cannot be imported; the message names the file, line and column and says what to fix."""


class DayCalendar:
    """Calendar entries of one outlet, looked up by SPG and day."""

    def __init__(self, entries: Iterable[CalendarEntry], outlet_id: str | None = None):
        self._outlet: dict[date, CalendarEntry] = {}
        self._spg: dict[tuple[str, date], CalendarEntry] = {}
        for e in entries:
            if e.outlet_id and outlet_id is not None and e.outlet_id != outlet_id:
                continue
            if e.spg_id:
                self._spg[(e.spg_id, e.date)] = e
            else:
                self._outlet[e.date] = e

    def entry(self, spg_id: str, day: date) -> CalendarEntry | None:
        """The entry that applies to ``spg_id`` on ``day``: their own, else the outlet's, else None."""
        return self._spg.get((spg_id, day)) or self._outlet.get(day)

    def __bool__(self) -> bool:
        return bool(self._outlet or self._spg)


def parse_calendar_csv(text: str, source: str = "calendar.csv") -> list[CalendarEntry]:
    """Entries from CSV text (see the module doc). Raises :class:`CalendarCsvError` naming line and column."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise CalendarCsvError(f"{source}: the file is empty; the first line must name the columns "
                               f"({','.join(CSV_COLUMNS)})")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CalendarCsvError(f"{source}: line 1: no column {', '.join(repr(m) for m in missing)}; the first line "
                               f"must name the columns ({','.join(CSV_COLUMNS)})")
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        col = header.index(unknown[0]) + 1
        raise CalendarCsvError(f"{source}: line 1, column {col}: unknown column {unknown[0]!r}; "
                               f"allowed: {', '.join(CSV_COLUMNS)}")
    reader.fieldnames = header
    out: list[CalendarEntry] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise CalendarCsvError(f"{source}: line {line}: more values than columns in the header")
        values = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(values.values()):
            continue
        kind = values.get("kind", "").lower()
        values["kind"] = KIND_ALIASES.get(kind, kind)
        data = {k: v for k, v in values.items() if v != ""}
        try:
            out.append(CalendarEntry.model_validate(data))
        except ValidationError as exc:
            raise CalendarCsvError(_row_error(source, line, header, exc)) from None
    return out


def _row_error(source: str, line: int, header: Sequence[str], exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    col_name = loc[0] if loc else ""
    msg = str(err["msg"]).removeprefix("Value error, ")
    if col_name == "kind":
        msg = "use holiday, off or shift"
    elif col_name == "date":
        msg = "not a date; use YYYY-MM-DD, e.g. 2026-03-31"
    elif col_name in ("start", "end"):
        msg = "not a time; use HH:MM, e.g. 09:00"
    if col_name in header:
        return f"{source}: line {line}, column {header.index(col_name) + 1} ({col_name}): {msg}"
    return f"{source}: line {line}: {msg}"


def load_calendar_csv(path: Path) -> list[CalendarEntry]:
    """THE calendar CSV loader (the Settings dialog's import button and ``app.py calendar`` use it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CalendarCsvError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise CalendarCsvError(f"{path}: not a UTF-8 text file; save it from the spreadsheet as "
                               f"'CSV UTF-8 (comma delimited)'") from None
    except OSError as exc:
        raise CalendarCsvError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_calendar_csv(text, str(path))


def merge_entries(old: Sequence[CalendarEntry], new: Sequence[CalendarEntry]) -> list[CalendarEntry]:
    """``old`` with ``new`` added; a new entry replaces an old one for the same day, SPG and outlet."""
    merged = {_key(e): e for e in old}
    merged.update({_key(e): e for e in new})
    return sorted(merged.values(), key=_key)


def _key(e: CalendarEntry) -> tuple[date, str, str]:
    return e.date, e.spg_id or "", e.outlet_id or ""
