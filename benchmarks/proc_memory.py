"""Memory and CPU of each process of a benchmark run, sampled over time, and the "flat memory" verdict.

psutil where it is installed (Linux, Windows, macOS: RSS, and USS = memory only that process holds); without
psutil, Linux ``/proc`` (RSS from ``status``, USS from ``smaps_rollup``); elsewhere nothing ('n/a').
Processes are named by role (``main``, ``inference``, ``cam0`` ...), re-read at every sample, so a child
the supervisor restarted shows up as a new pid of the same role (which the table marks).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

try:
    import psutil
except ImportError:  # the /proc fallback below
    psutil = None


@dataclass(frozen=True)
class Usage:
    rss_mb: float
    uss_mb: float | None
    cpu_s: float | None


def usage(pid: int) -> Usage | None:
    """RSS, USS (MB) and CPU seconds (user + system) of one process; None when it cannot be read."""
    if psutil is not None:
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                m = p.memory_full_info()
                t = p.cpu_times()
            return Usage(m.rss / 2**20, getattr(m, "uss", None) and m.uss / 2**20, t.user + t.system)
        except (psutil.Error, OSError):
            return None
    proc = Path(f"/proc/{pid}")
    try:
        status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
        rss = int(status["VmRSS"].split()[0]) / 1024
        stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, KeyError, IndexError, ValueError):
        return None
    uss = None
    try:
        rollup = (proc / "smaps_rollup").read_text().splitlines()
        uss = sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean", "Private_Dirty"))) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return Usage(rss, uss, cpu)


def available() -> bool:
    return psutil is not None or Path("/proc/self/status").exists()


@dataclass
class Series:
    """One role's samples: (seconds since start, pid, usage)."""

    samples: list[tuple[float, int, Usage]] = field(default_factory=list)

    def between(self, t0: float, t1: float, uss: bool) -> list[float]:
        out = []
        for t, _, u in self.samples:
            if t0 <= t < t1:
                v = u.uss_mb if uss else u.rss_mb
                if v is not None:
                    out.append(v)
        return out

    def pids(self) -> list[int]:
        return sorted({pid for _, pid, _ in self.samples})


class ProcessSampler(threading.Thread):
    """Samples every process ``roles()`` names (role -> pid) every ``every`` seconds until ``stop()``."""

    def __init__(self, roles: Callable[[], dict[str, int | None]], every: float = 2.0):
        super().__init__(daemon=True)
        self.roles = roles
        self.every = every
        self.series: dict[str, Series] = {}
        self.peak_total_mb = 0.0
        self.t0 = time.monotonic()
        self._halt = threading.Event()
        self._cpu_first: dict[str, tuple[int, float]] = {}
        self._cpu_last: dict[str, tuple[int, float]] = {}
        self.loads: list[float] = []

    def uss_known(self) -> bool:
        return any(u.uss_mb is not None for s in self.series.values() for _, _, u in s.samples)

    def load_summary(self) -> str:
        """The machine's 1-minute load average over the window (mean, max); 'n/a' on Windows."""
        if not self.loads:
            return "n/a"
        return f"mean {sum(self.loads) / len(self.loads):.1f}, max {max(self.loads):.1f}"

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        total = 0.0
        try:
            roles = dict(self.roles())
        except Exception:  # noqa: BLE001 - the run is stopping; its processes are gone
            return
        for role, pid in roles.items():
            if pid is None:
                continue
            u = usage(pid)
            if u is None:
                continue
            total += u.rss_mb
            self.series.setdefault(role, Series()).samples.append((now, pid, u))
            if u.cpu_s is not None:
                if role not in self._cpu_first or self._cpu_first[role][0] != pid:
                    self._cpu_first[role] = (pid, u.cpu_s)
                self._cpu_last[role] = (pid, u.cpu_s)
        self.peak_total_mb = max(self.peak_total_mb, total)
        try:
            self.loads.append(os.getloadavg()[0])
        except (AttributeError, OSError):  # Windows
            pass

    def run(self) -> None:
        self.sample()
        while not self._halt.wait(self.every):
            self.sample()

    def restart_window(self) -> None:
        """Forget what was sampled so far (spawn and model load): time and CPU count from now."""
        self.series.clear()
        self._cpu_first.clear()
        self.peak_total_mb = 0.0
        self.loads.clear()
        self.t0 = time.monotonic()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.sample()

    def cpu_ms_per_s(self, role: str) -> float | None:
        """CPU ms per wall second of a role over the sampled window (one pid: a restart resets it)."""
        first, last = self._cpu_first.get(role), self._cpu_last.get(role)
        s = self.series.get(role)
        if first is None or last is None or first[0] != last[0] or s is None or len(s.samples) < 2:
            return None
        pid_samples = [t for t, pid, _ in s.samples if pid == last[0]]
        span = pid_samples[-1] - pid_samples[0]
        return (last[1] - first[1]) * 1000 / span if span > 0 else None

    def flat(self, role: str, uss: bool | None = None, tolerance: float = 0.05) -> tuple[str, float | None, float | None]:
        """The verdict 'last minute within 5 % of the second minute' (mean of the samples of each)."""
        s = self.series.get(role)
        if uss is None:
            uss = self.uss_known()
        if s is None or not s.samples:
            return "n/a", None, None
        end = s.samples[-1][0]
        if end < 180:
            return "n/a (needs >= 180 s)", None, None
        second, last = s.between(60, 120, uss), s.between(end - 60, end + 1, uss)
        if not second or not last:
            return "n/a", None, None
        a, b = sum(second) / len(second), sum(last) / len(last)
        ok = abs(b - a) <= tolerance * a
        return ("flat" if ok else "GREW" if b > a else "SHRANK"), a, b

    def report(self, title: str, fps: dict[str, float] | None = None) -> list[str]:
        """One line per process: pid(s), RSS and USS at the start / second minute / last minute / peak, CPU,
        frames/s (cameras), verdict."""
        fps = fps or {}
        uss_known = self.uss_known()
        kind = "USS" if uss_known else "RSS"
        lines = [f"{title}: memory per process, sampled every {self.every:g} s "
                 f"({'psutil' if psutil is not None else '/proc'}); verdict on {kind}: "
                 "last minute within 5 % of the second minute",
                 f"  {'process':<10}{'pid':>8}{'RSS first':>10}{'RSS peak':>10}{kind + ' 2nd min':>13}"
                 f"{kind + ' last min':>14}{'change':>8}{'CPU ms/s':>9}{'fps':>7}  verdict"]
        for role in sorted(self.series, key=lambda r: (r != "main", r != "inference", len(r), r)):
            s = self.series[role]
            rss = [u.rss_mb for _, _, u in s.samples]
            verdict, a, b = self.flat(role, uss_known)
            pids = s.pids()
            cpu = self.cpu_ms_per_s(role)
            change = f"{(b - a) / a * 100:+.1f}%" if a and b is not None else "-"
            lines.append(
                f"  {role:<10}{pids[-1]:>8}{rss[0]:>10.0f}{max(rss):>10.0f}"
                f"{(f'{a:.1f}' if a is not None else '-'):>13}{(f'{b:.1f}' if b is not None else '-'):>14}"
                f"{change:>8}{(f'{cpu:.0f}' if cpu is not None else '-'):>9}"
                f"{(f'{fps[role]:.2f}' if role in fps else ''):>7}  {verdict}"
                + (f" (restarted: pids {pids})" if len(pids) > 1 else ""))
        lines.append(f"  all processes: peak RSS sum {self.peak_total_mb:.0f} MB")
        return lines

    def timeline(self, step: float = 60.0) -> list[str]:
        """Each process's memory (USS where known, else RSS) averaged per ``step`` seconds: growth shows as a
        rising row."""
        uss_known = self.uss_known()
        end = max((s.samples[-1][0] for s in self.series.values() if s.samples), default=0.0)
        n = max(1, int(end // step) + (1 if end % step > step / 4 else 0))
        head = "".join(f"{f'{int(i * step)}-{int((i + 1) * step)}s':>10}" for i in range(n))
        lines = [f"  {('USS' if uss_known else 'RSS') + ' MB':<10}{head}"]
        for role in sorted(self.series, key=lambda r: (r != "main", r != "inference", len(r), r)):
            cells = []
            for i in range(n):
                v = self.series[role].between(i * step, (i + 1) * step, uss_known)
                cells.append(f"{sum(v) / len(v):>10.1f}" if v else f"{'-':>10}")
            lines.append(f"  {role:<10}{''.join(cells)}")
        return lines
