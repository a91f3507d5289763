"""Children yield the CPU to the console: camera workers and the inference server run one step below normal
priority, so that on a 2-core outlet PC with many cameras the Qt thread (and the router) get a core when they
need one instead of queueing behind 17 busy processes (measured: benchmarks/ui_responsiveness.py). An idle
machine is unaffected: priority only orders who waits when every core is busy."""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

POSIX_NICE_STEP = 5
"""Linux/macOS: niceness added to the child (CFS weight about 3x below a normal process)."""
_BELOW_NORMAL_PRIORITY_CLASS = 0x00004000


def lower_own_priority() -> None:
    """Lower this process's priority one step; never raises (a refusal only costs responsiveness)."""
    try:
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
            if not kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), _BELOW_NORMAL_PRIORITY_CLASS):
                log.debug("SetPriorityClass refused; the child keeps normal priority")
        else:
            os.nice(POSIX_NICE_STEP)
    except (OSError, AttributeError) as exc:
        log.debug("could not lower the child's priority: %s", exc)
