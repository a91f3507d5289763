"""SharedMemory frame ring per camera (``sfb_<camera_id>_<run token>``): frames never travel through a queue.

Layout of one block (sized once from ``max_frame_height x max_frame_width x 3`` and ``shm_slots``)::

    header: per slot  uint64 generation | uint32 height | uint32 width      (16 bytes a slot, padded to 64)
    data:   per slot  max_h * max_w * 3 bytes (a frame of h x w uses the first h*w*3 bytes)

The camera worker writes slots round-robin (>= 2 slots, so the slot the inference server is reading is not
the one being written). Each slot has a seqlock-style generation counter: odd while being written, even when
complete. A reader copies the pixels and accepts them only if the generation is the expected even value both
before and after the copy, so a torn read (writer lapped the reader) is detected and dropped, never used.

Ownership: the main process creates (and always unlinks) the blocks; children only attach. Every block this
process creates is unlinked at exit (``atexit``) even if ``close`` was never called; a stale block of the same
name (from a crashed run) is unlinked before creating a new one.

A hard kill of the whole process tree (``kill -9``, Task Manager, power loss on Linux) runs no exit handler,
and the block names carry a per-run token, so a later run would never meet them by name. So a run started
with a data folder (:func:`run_token`) records its token and every block it creates in
``<data folder>/runs/shm-<token>.json`` and holds ``shm-<token>.lock`` while it lives. The record also names
the POSIX semaphores of the run's queues, locks and events (``/dev/shm/sem.mp-*``, noted by
``workers.mp.mp_context``), which the same kill leaves behind because it kills the resource tracker too. At
start, every record of this data folder whose lock is free (its process is gone: the OS released the lock)
has its blocks and semaphores unlinked and is deleted; a live run's lock is held, so its are never touched. (On Windows the OS frees a block with its last handle; nothing leaks.) When SharedMemory cannot be created (OS limit,
or ``SPG_DISABLE_SHM=1`` for tests), :func:`create_buffer` logs one warning and returns ``None``: the camera
then sends its frames through the input queue (``FrameMeta.frame``) and everything keeps running.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
from multiprocessing import shared_memory
from pathlib import Path
from typing import ClassVar

import numpy as np
from filelock import FileLock, Timeout

from core.paths import DataLayout
from workers import mp

log = logging.getLogger(__name__)

PREFIX = "sfb_"
ENV_DISABLE = "SPG_DISABLE_SHM"
"""Set to ``1`` to make SharedMemory creation fail (tests of the queue fallback)."""
_SLOT_HEADER = 16
_warned = False
_created: dict[str, shared_memory.SharedMemory] = {}
_lock = threading.Lock()


def run_token(data_dir: Path | None = None) -> str:
    """A short random token so two pipelines (or two test runs) never share a block name.

    With ``data_dir``: first remove what earlier runs of this data folder left behind after a hard kill,
    then record this run there (see the module text)."""
    token = secrets.token_hex(3)
    if data_dir is not None:
        runs = DataLayout(Path(data_dir)).runs
        try:
            clean_stale_runs(runs)
            _RunRecord.start(runs, token)
        except OSError as exc:  # a read-only or full data folder: the blocks are still unlinked at exit
            log.warning("cannot record the SharedMemory of this run in %s (%s)", runs, exc.strerror or exc)
    return token


class _RunRecord:
    """``shm-<token>.json`` (the block names) + ``shm-<token>.lock`` (held while this run lives)."""

    active: ClassVar[dict[str, _RunRecord]] = {}

    def __init__(self, runs: Path, token: str, lock: FileLock):
        self.token = token
        self.path = runs / f"shm-{token}.json"
        self.lock = lock
        self.names: list[str] = []
        self._write_lock = threading.Lock()  # a block and a semaphore may be noted from two threads at once

    @classmethod
    def start(cls, runs: Path, token: str) -> None:
        runs.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(runs / f"shm-{token}.lock"), timeout=0)
        lock.acquire()
        rec = cls(runs, token, lock)
        rec._write()
        with _lock:
            cls.active[token] = rec

    def add(self, name: str) -> None:
        self.names.append(name)
        try:
            self._write()
        except OSError as exc:
            log.warning("cannot record frame buffer %s in %s (%s)", name, self.path, exc.strerror or exc)

    def _write(self) -> None:
        with self._write_lock:
            tmp = self.path.with_suffix(".tmp")
            record = {"pid": os.getpid(), "names": self.names, "semaphores": mp.semaphore_names()}
            tmp.write_text(json.dumps(record), encoding="utf-8")
            tmp.replace(self.path)

    def end(self) -> None:
        self.path.unlink(missing_ok=True)
        self.lock.release()
        Path(self.lock.lock_file).unlink(missing_ok=True)


def _note_semaphores() -> None:
    """A new queue/lock/event semaphore: rewrite the records of this process's runs to name it."""
    with _lock:
        recs = list(_RunRecord.active.values())
    for rec in recs:
        try:
            rec._write()
        except OSError as exc:
            log.warning("cannot record the semaphores of this run in %s (%s)", rec.path, exc.strerror or exc)


mp.on_semaphore_created(_note_semaphores)


def _note_created(name: str) -> None:
    with _lock:
        recs = [r for t, r in _RunRecord.active.items() if name.startswith(PREFIX) and f"_{t}" in name]
    for rec in recs:
        rec.add(name)


def clean_stale_runs(runs: Path) -> list[str]:
    """Unlink the blocks and semaphores of every recorded run whose process is gone; returns the block names
    unlinked."""
    removed: list[str] = []
    semaphores: list[str] = []
    if not runs.is_dir():
        return removed
    for lock_path in sorted(runs.glob("shm-*.lock")):
        token = lock_path.stem[len("shm-"):]
        lock = FileLock(str(lock_path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue  # that run is alive
        try:
            record = runs / f"shm-{token}.json"
            names: set[str] = set()
            try:
                content = json.loads(record.read_text(encoding="utf-8"))
                names.update(content.get("names", []))
                semaphores += mp.unlink_semaphores(content.get("semaphores", []))
            except (OSError, ValueError, AttributeError, TypeError):  # torn or hand-edited: blocks still globbed
                pass
            shm_dir = Path("/dev/shm")  # where POSIX lists them; catches a block created just before the kill
            if shm_dir.is_dir():
                names.update(p.name for p in shm_dir.glob(f"{PREFIX}*_{token}*"))
            for name in sorted(names):
                if _exists(name):
                    unlink_name(name)
                    removed.append(name)
            record.unlink(missing_ok=True)
        finally:
            lock.release()
            lock_path.unlink(missing_ok=True)
    if removed:
        log.warning("removed %d frame buffer(s) left by an earlier run that was killed: %s", len(removed),
                    ", ".join(removed))
    if semaphores:
        log.warning("removed %d semaphore(s) left by an earlier run that was killed", len(semaphores))
    return removed


def _exists(name: str) -> bool:
    try:
        shm = shared_memory.SharedMemory(name=name, create=False)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    shm.close()
    return True


def _end_runs() -> None:
    with _lock:
        recs = list(_RunRecord.active.values())
        _RunRecord.active.clear()
    for rec in recs:
        try:
            rec.end()
        except OSError:
            pass


def buffer_name(camera_id: str, token: str) -> str:
    return f"{PREFIX}{camera_id}_{token}"


def _header_size(slots: int) -> int:
    return ((slots * _SLOT_HEADER + 63) // 64) * 64


class FrameBuffer:
    """A ring of ``slots`` frames of at most ``max_h x max_w x 3`` bytes in one SharedMemory block."""

    def __init__(self, shm: shared_memory.SharedMemory, max_h: int, max_w: int, slots: int, owner: bool):
        self.shm = shm
        self.name = shm.name
        self.max_h, self.max_w, self.slots = int(max_h), int(max_w), int(slots)
        self.owner = owner
        self.slot_bytes = self.max_h * self.max_w * 3
        hdr = _header_size(self.slots)
        self._gen = np.ndarray((self.slots,), dtype=np.uint64, buffer=shm.buf, offset=0, strides=(_SLOT_HEADER,))
        self._hw = np.ndarray((self.slots, 2), dtype=np.uint32, buffer=shm.buf, offset=8, strides=(_SLOT_HEADER, 4))
        self._data = np.ndarray((self.slots, self.slot_bytes), dtype=np.uint8, buffer=shm.buf, offset=hdr)
        self._next = 0
        self._last_slot = -1
        self._pending: tuple[int, int] = (-1, 0)

    # -- creation / attachment ---------------------------------------------------------------------
    @staticmethod
    def size_for(max_h: int, max_w: int, slots: int) -> int:
        return _header_size(slots) + slots * max_h * max_w * 3

    @classmethod
    def create(cls, name: str, max_h: int, max_w: int, slots: int) -> FrameBuffer:
        """Create the block (unlinking a stale one of the same name first). Raises OSError on failure."""
        if os.environ.get(ENV_DISABLE, "") not in ("", "0"):
            raise OSError(f"SharedMemory disabled by {ENV_DISABLE}")
        size = cls.size_for(max_h, max_w, slots)
        try:
            shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        except FileExistsError:
            log.warning("removing a stale frame buffer %s left by an earlier run", name)
            unlink_name(name)
            shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        with _lock:
            _created[shm.name] = shm
        _note_created(name)
        buf = cls(shm, max_h, max_w, slots, owner=True)
        buf._gen[:] = 0
        buf._hw[:] = 0
        return buf

    @classmethod
    def attach(cls, name: str, max_h: int, max_w: int, slots: int) -> FrameBuffer:
        shm = shared_memory.SharedMemory(name=name, create=False)
        return cls(shm, max_h, max_w, slots, owner=False)

    # -- writer --------------------------------------------------------------------------------------
    def write(self, frame: np.ndarray) -> tuple[int, int]:
        """Copy a frame (h <= max_h, w <= max_w, 3 channels, uint8) into the next slot: (slot, generation)."""
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {frame.shape} is not an (h, w, 3) image")
        h, w = frame.shape[:2]
        slot, view = self.begin_write(h, w)
        view[...] = frame
        return slot, self.commit(slot)

    def begin_write(self, h: int, w: int) -> tuple[int, np.ndarray]:
        """Claim the next slot for an (h, w, 3) frame: returns (slot, a writable view into SharedMemory).

        The producer fills the view in place (e.g. ``cv2.VideoCapture.read(view)`` decodes straight into it,
        or ``cv2.resize(..., dst=view)``), then calls :meth:`commit` (or :meth:`abort`). Meanwhile the slot's
        generation is odd, so no reader accepts it.
        """
        if h > self.max_h or w > self.max_w:
            raise ValueError(f"frame {h}x{w} does not fit the buffer ({self.max_h}x{self.max_w}x3)")
        slot = self._next
        g = int(self._gen[slot])
        if g % 2:  # a writer died mid-write
            g += 1
        self._gen[slot] = g + 1  # odd: writing
        self._hw[slot] = (h, w)
        self._pending = (slot, g)
        return slot, self._data[slot, : h * w * 3].reshape(h, w, 3)

    def commit(self, slot: int) -> int:
        """Publish the slot claimed by :meth:`begin_write`; returns its new (even) generation."""
        pslot, g = self._pending
        if pslot != slot:
            raise ValueError("commit of a slot that was not claimed")
        self._gen[slot] = g + 2  # even: complete
        self._next = (slot + 1) % self.slots
        self._last_slot = slot
        return g + 2

    def abort(self, slot: int) -> None:
        """Give up a claimed slot; its old pixels may be damaged, so its old generation is retired too."""
        pslot, g = self._pending
        if pslot == slot:
            self._gen[slot] = g + 2
            self._hw[slot] = (0, 0)

    # -- readers -------------------------------------------------------------------------------------
    def generation(self, slot: int) -> int:
        return int(self._gen[slot])

    def shape(self, slot: int) -> tuple[int, int, int]:
        h, w = (int(x) for x in self._hw[slot])
        return h, w, 3

    def latest_shape(self) -> tuple[int, int, int] | None:
        """Shape of the most recently completed slot (None before the first frame)."""
        gens = self._gen.astype(np.int64)
        even = [(g, i) for i, g in enumerate(gens) if g and g % 2 == 0 and int(self._hw[i][0]) > 0]
        if not even:
            return None
        return self.shape(max(even)[1])

    def read(self, slot: int, generation: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """A copy of the frame in ``slot`` if it is still ``generation`` (else None: overwritten or torn).

        With ``out`` (an (h, w, 3) uint8 array of the slot's shape) the pixels are copied into it and ``out``
        is returned; a shape mismatch returns None.
        """
        if not 0 <= slot < self.slots or generation <= 0 or generation % 2:
            return None
        if int(self._gen[slot]) != generation:
            return None
        h, w = (int(x) for x in self._hw[slot])
        if h == 0 or w == 0:  # aborted write
            return None
        src = self._data[slot, : h * w * 3].reshape(h, w, 3)
        if out is None:
            out = src.copy()
        else:
            if out.shape != (h, w, 3):
                return None
            out[...] = src
        if int(self._gen[slot]) != generation:
            return None  # torn: the writer lapped us during the copy
        return out

    def close(self) -> None:
        """Detach; the owner also unlinks the block."""
        name = self.name
        # drop numpy views before closing the mmap
        self._gen = self._hw = self._data = None  # type: ignore[assignment]
        try:
            self.shm.close()
        except BufferError:
            pass
        if self.owner:
            unlink_name(name)


def create_buffer(name: str, max_h: int, max_w: int, slots: int) -> FrameBuffer | None:
    """Create a camera's block, or None (one warning per process) when SharedMemory is unavailable."""
    global _warned
    try:
        return FrameBuffer.create(name, max_h, max_w, slots)
    except (OSError, ValueError) as exc:
        if not _warned:
            _warned = True
            log.warning("SharedMemory not available (%s): frames go through the queue instead (slower, still "
                        "running). Free /dev/shm space or raise the OS limit to restore the fast path.", exc)
        return None


def unlink_name(name: str) -> None:
    """Unlink a block by name (no error if it is already gone)."""
    with _lock:
        shm = _created.pop(name, None)
    try:
        if shm is None:
            shm = shared_memory.SharedMemory(name=name, create=False)
        try:
            shm.close()
        except BufferError:
            pass
        shm.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - nothing more we can do
        log.debug("unlink %s failed: %s", name, exc)


def unlink_all_created() -> None:
    """Unlink every block this process created and has not unlinked yet (atexit, signals)."""
    with _lock:
        names = list(_created)
    for name in names:
        unlink_name(name)


def _at_exit() -> None:
    unlink_all_created()
    _end_runs()


atexit.register(_at_exit)
