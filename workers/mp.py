"""The one multiprocessing context of the console: ``spawn`` everywhere, with its named semaphores known.

``spawn`` is the only start method on Windows, where outlets run; using it on Linux too means the
tests exercise what outlets run (no state inherited by fork, everything passed must pickle).
This module only hands out the context; processes themselves live in ``workers/``.

Every queue, lock and event made through :func:`mp_context` rests on POSIX named semaphores on Linux
(``/dev/shm/sem.mp-*``, about 20 a run). Only multiprocessing's resource tracker unlinks them when their
owner dies, and a kill of the whole process tree kills the tracker too. So the context notes the name of
each semaphore it makes while that semaphore lives (:func:`semaphore_names`), for the run record in
``workers.frame_buffer``, which unlinks those of a killed run at the next start (:func:`unlink_semaphores`).
On Windows a semaphore is nameless and dies with its last handle: nothing is noted and nothing can leak.
"""

from __future__ import annotations

import _multiprocessing
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from multiprocessing import synchronize
from multiprocessing.context import SpawnContext
from typing import Protocol, TypeVar, cast

_lock = threading.RLock()  # re-entrant: a collected semaphore may be forgotten (GC) while a note holds it
_live: dict[str, None] = {}  # names of the semaphores made here and not yet collected, oldest first
_listeners: list[Callable[[], None]] = []


class _NamedSemLock(Protocol):
    name: str | None


class _HasSemLock(Protocol):
    # typeshed leaves out the wrapped ``_multiprocessing.SemLock``; its ``name`` is the only way to the name
    _semlock: _NamedSemLock


_S = TypeVar("_S", bound=synchronize.SemLock)


def _note(sem: _S) -> _S:
    name = cast(_HasSemLock, sem)._semlock.name
    if name is not None:  # None on Windows: unlinked at birth
        with _lock:
            _live[name] = None
            listeners = list(_listeners)
        weakref.finalize(sem, _forget, name)  # multiprocessing unlinks it when collected; so stop naming it
        for listener in listeners:
            listener()
    return sem


def _forget(name: str) -> None:
    with _lock:
        _live.pop(name, None)


class _NotingSpawnContext(SpawnContext):
    """``spawn``, noting each named semaphore. Queue, Event, Condition and Value(lock=True) all build theirs
    through these four methods of the context they were made by, so nothing escapes."""

    def Lock(self) -> synchronize.Lock:  # noqa: N802 - multiprocessing's name
        return _note(super().Lock())

    def RLock(self) -> synchronize.RLock:  # noqa: N802
        return _note(super().RLock())

    def Semaphore(self, value: int = 1) -> synchronize.Semaphore:  # noqa: N802
        return _note(super().Semaphore(value))

    def BoundedSemaphore(self, value: int = 1) -> synchronize.BoundedSemaphore:  # noqa: N802
        return _note(super().BoundedSemaphore(value))


_CONTEXT = _NotingSpawnContext()


def mp_context() -> SpawnContext:
    return _CONTEXT


def semaphore_names() -> list[str]:
    """Names (``/mp-...``) of the live semaphores this process made through :func:`mp_context`."""
    with _lock:
        return list(_live)


def on_semaphore_created(listener: Callable[[], None]) -> None:
    """Call ``listener`` (no arguments) after each new named semaphore; it reads :func:`semaphore_names`."""
    with _lock:
        _listeners.append(listener)


def unlink_semaphores(names: Iterable[str]) -> list[str]:
    """Unlink the named semaphores a dead run left; returns those that existed. No-op where semaphores have no
    names (Windows, where nothing is noted either); the same test as multiprocessing's resource tracker."""
    removed: list[str] = []
    if os.name != "posix":
        return removed
    for name in names:
        try:
            _multiprocessing.sem_unlink(name)
        except FileNotFoundError:
            continue
        except OSError:  # not ours to remove (permissions): leave it
            continue
        removed.append(name)
    return removed
