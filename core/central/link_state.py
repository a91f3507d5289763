"""The outlet's link to the central database, as the console and metrics show it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkState:
    """A snapshot; the replicator publishes a new one whenever something changes.

    ``enabled`` False: no central database configured (nothing to show). ``offline_since`` is the wall time
    of the first failed attempt of the current outage (None while connected). ``waiting`` counts the events
    in the local outbox not yet acknowledged by the central database. ``last_error`` is one sentence, with
    any password masked."""

    enabled: bool = False
    connected: bool = False
    offline_since: float | None = None
    waiting: int = 0
    last_error: str | None = None
    last_sync: float | None = None
