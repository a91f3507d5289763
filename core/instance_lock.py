"""One run per data folder: the console and ``app.py run --headless`` take the same lock.

Two runs on one data folder would store every transition twice and give an SPG two open presence
intervals. The lock is ``<data folder>/console.lock`` (filelock: ``flock`` on POSIX, ``msvcrt`` locking on
Windows), so the operating system releases it when its holder dies, even by ``kill -9`` or a power cut:
there is never a stale lock to delete by hand. Who holds it (console or headless run, process id, since
when) is written next to it (``console.lock.owner``) so a refusal can say which program to close.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from filelock import FileLock, Timeout

from core.paths import DataLayout

log = logging.getLogger(__name__)

CONSOLE = "the console"
HEADLESS = "a headless run (app.py run --headless)"


class InstanceLockError(Exception):
    """The data folder cannot be used by this run; the message names the folder and what to do."""

    def __init__(self, message: str, data_dir: Path):
        super().__init__(message)
        self.data_dir = data_dir


class AlreadyRunning(InstanceLockError):
    def __init__(self, message: str, data_dir: Path, owner: str):
        super().__init__(message, data_dir)
        self.owner = owner


class DataFolderNotWritable(InstanceLockError):
    """Read-only folder or drive, no permission, or a full disk: the lock file cannot be created."""

    def __init__(self, message: str, data_dir: Path, reason: str):
        super().__init__(message, data_dir)
        self.reason = reason
        """The short why (``console.lock cannot be written: Read-only file system``), for a translated frame."""


def _owner_path(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".owner")


class InstanceLock:
    """``with InstanceLock(data_dir, HEADLESS): ...`` or :meth:`acquire` / :meth:`release`."""

    def __init__(self, data_dir: Path, role: str):
        self.data_dir = Path(data_dir)
        self.role = role
        self.path = DataLayout(self.data_dir).lock_file
        self._lock: FileLock | None = None

    def acquire(self) -> Self:
        """Take the lock now or raise :class:`AlreadyRunning` / :class:`DataFolderNotWritable`."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.path), timeout=0)
            lock.acquire()
        except Timeout:
            owner = self.owner() or "another console or headless run"
            raise AlreadyRunning(
                f"The data folder {self.data_dir} is already in use by {owner}. Only one console or headless "
                f"run may use a data folder at a time: close the other one first (check the taskbar), or use "
                f"another data folder with --data-dir.", self.data_dir, owner) from None
        except OSError as exc:
            raise not_writable(self.data_dir, self.path, exc) from None
        self._lock = lock
        try:
            _owner_path(self.path).write_text(
                f"{self.role}, process {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8")
        except OSError as exc:  # cosmetic: the lock itself is held
            log.warning("%s: cannot record who holds the lock (%s)", self.path, exc.strerror or exc)
        return self

    def owner(self) -> str | None:
        """Who holds the lock, as written by its holder (None if unknown)."""
        try:
            text = _owner_path(self.path).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text or None

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            _owner_path(self.path).unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release()
        self._lock = None

    @property
    def held(self) -> bool:
        return self._lock is not None and self._lock.is_locked

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def not_writable(data_dir: Path, path: Path, exc: OSError) -> DataFolderNotWritable:
    """The sentence for a data folder file that cannot be created or written."""
    reason = f"{path.name} cannot be written ({exc.strerror or exc})"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full: free space on that drive"
    else:
        what = "the folder is read-only: make it writable, or choose another data folder with --data-dir or SPG_DATA_DIR"
    return DataFolderNotWritable(f"The data folder {data_dir} cannot be used: {reason}; {what}.", data_dir, reason)
