"""Supervisor of the pipeline's child processes: restart crashed or hung children with backoff, within a budget.

A child is *crashed* when its process exited, *hung* when its heartbeat (a shared double the child sets to
``time.time()`` every loop) is older than its hang timeout, or when it sent none within
:data:`STARTUP_GRACE_S`. Each problem kills the child if needed and schedules a restart after a backoff
(0.5 s doubling up to ``backoff_max_s``, back to 0.5 s once a child ran :data:`HEALTHY_AFTER_S`); every
restart is logged with its reason. A child restarted more than ``budget`` times within ``budget_window_s``
is given up (one message saying so): a camera or engine that keeps crashing needs a person, and
restarting it forever would only hide that.

The supervisor owns no processes: :class:`workers.pipeline.Pipeline` starts them and hands each
:class:`SupervisedChild` over; :meth:`Supervisor.check` calls back into the pipeline to start one again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

STARTUP_GRACE_S = 120.0
"""A child may take this long before its first heartbeat (spawn + imports + engine load on a slow PC)."""
HEALTHY_AFTER_S = 60.0
"""A child that ran this long before a problem restarts after the shortest backoff again."""
RESTART_BUDGET = 30
RESTART_BUDGET_WINDOW_S = 3600.0


class SupervisedChild:
    """One child process as the supervisor sees it (process handle, heartbeat, restart bookkeeping)."""

    def __init__(self, name: str):
        self.name = name
        self.process: Any = None
        self.heartbeat: Any = None
        self.started = 0.0
        self.restarts = 0
        self.backoff = 0.5
        self.restart_at: float | None = None
        self.gave_up = False
        self.stop_event: Any = None
        self.feedback_q: Any = None
        self._restart_times: deque[float] = deque()

    def started_now(self, process: Any, heartbeat: Any, now: float | None = None) -> None:
        self.process, self.heartbeat = process, heartbeat
        self.started = time.monotonic() if now is None else now
        self.restart_at = None

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def up(self) -> bool:
        """Running and past its start-up (it sent a heartbeat)."""
        return self.alive() and self.restart_at is None and float(self.heartbeat.value) > 0.0

    def kill(self, join: float = 2.0) -> None:
        p = self.process
        if p is None:
            return
        if p.is_alive():
            p.kill()
        p.join(join)


class Supervisor:
    def __init__(self, backoff_max_s: float, *, budget: int = RESTART_BUDGET,
                 budget_window_s: float = RESTART_BUDGET_WINDOW_S, startup_grace_s: float = STARTUP_GRACE_S,
                 healthy_after_s: float = HEALTHY_AFTER_S, wall: Callable[[], float] = time.time):
        self.backoff_max_s = backoff_max_s
        self.budget = budget
        self.budget_window_s = budget_window_s
        self.startup_grace_s = startup_grace_s
        self.healthy_after_s = healthy_after_s
        self._wall = wall

    def check(self, child: SupervisedChild, hang_after_s: float, now: float, start: Callable[[], None]) -> str | None:
        """One supervision step for ``child``: start it again once its backoff is over, else look for a problem
        and schedule a restart. Returns the message that was logged, if any."""
        if child.gave_up:
            return None
        if child.restart_at is not None:
            if now >= child.restart_at:
                start()
            return None
        why = self.problem(child, hang_after_s, now)
        return self._schedule_restart(child, why, now) if why else None

    def problem(self, child: SupervisedChild, hang_after_s: float, now: float) -> str | None:
        """Why ``child`` needs a restart ('camera x exited with code 1', '... hung'), or None when it is fine."""
        p = child.process
        if p is None:
            return None
        if not p.is_alive():
            code = p.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            return f"{child.name} {how}"
        hb = float(child.heartbeat.value)
        if hb == 0.0:
            if now - child.started > self.startup_grace_s:
                return f"{child.name} did not start within {self.startup_grace_s:.0f} s (hung)"
            return None
        silent = self._wall() - hb
        if silent > hang_after_s:
            return f"{child.name} sent no heartbeat for {silent:.0f} s (hung)"
        return None

    def _schedule_restart(self, child: SupervisedChild, why: str, now: float) -> str:
        child.kill()
        child.process = None
        times = child._restart_times
        while times and times[0] < now - self.budget_window_s:
            times.popleft()
        if len(times) >= self.budget:
            child.gave_up = True
            msg = (f"{why}; it was restarted {len(times)} times within {self.budget_window_s / 60:.0f} min, so it "
                   f"is not restarted again (fix the cause, then restart the console)")
            log.error("supervisor: %s", msg)
            return msg
        if now - child.started > self.healthy_after_s:
            child.backoff = 0.5
        child.restart_at = now + child.backoff
        child.restarts += 1
        times.append(now)
        msg = f"{why}; restarting in {child.backoff:.1f} s (restart #{child.restarts})"
        log.warning("supervisor: %s", msg)
        child.backoff = min(self.backoff_max_s, child.backoff * 2)
        return msg
