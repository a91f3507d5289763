"""The one multiprocessing context of the console: ``spawn`` everywhere.

``spawn`` is the only start method on Windows, where outlets run; using it on Linux too means the
tests exercise what outlets run (no state inherited by fork, everything passed must pickle).
This module only hands out the context; processes themselves live in ``workers/``.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import SpawnContext


def mp_context() -> SpawnContext:
    return multiprocessing.get_context("spawn")
