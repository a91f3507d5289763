"""A small real disk for full-disk tests: a 2 MB tmpfs mounted over a test folder (we run as root, as CI
does). Where mounting is not permitted the same tests run against an injected failure instead: every
events database connection opened meanwhile answers COMMIT with SQLite's "database or disk is full"
while the disk is "full" (what SQLite does on ENOSPC: the transaction is rolled back).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SIZE = "2m"


class _InjectedFullConnection:
    """A sqlite3 connection whose writes fail as on a full disk while ``disk.full``."""

    def __init__(self, conn: sqlite3.Connection, disk: SmallDisk):
        self._conn = conn
        self._disk = disk

    def execute(self, sql: str, *args: Any) -> Any:
        if self._disk.full and sql.strip().upper().startswith(("COMMIT", "PRAGMA JOURNAL_MODE")):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class SmallDisk:
    def __init__(self, path: Path, mounted: bool):
        self.path = path
        self.mounted = mounted
        self.full = False
        self._filler = path / ".filler"

    def fill(self, leave: int = 0) -> None:
        """Take every free byte but ``leave``, as a camera recording or a big export would."""
        self.full = True
        if not self.mounted:
            return
        for chunk in (65536, 4096, 512):
            try:
                with open(self._filler, "ab") as f:
                    while True:
                        f.write(b"\0" * chunk)
                        f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        if leave:
            size = self._filler.stat().st_size
            os.truncate(self._filler, max(0, size - size % 4096 - leave))

    def free(self) -> None:
        self.full = False
        if self.mounted:
            self._filler.unlink(missing_ok=True)


def _try_mount(path: Path) -> bool:
    if os.name != "posix" or os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)],
                       capture_output=True, text=True, check=False)
    return r.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    path = tmp_path / "small"
    path.mkdir()
    mounted = _try_mount(path)
    disk = SmallDisk(path, mounted)
    if not mounted:
        import core.events_schema as schema

        real_connect = schema.connect
        monkeypatch.setattr(schema, "connect", lambda p, t: _InjectedFullConnection(real_connect(p, t), disk))
    try:
        yield disk
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
