"""app.py run --headless --config FILE [--duration SECONDS] [--results FILE] [--inline]

Runs the camera pipeline without a GUI, through the same :class:`workers.router.Router` as the console:
presence (``core.attendance``: transitions in the events database, alerts), unknown faces kept in
``<data dir>/unknown/`` and frames copied only when a crop needs them. Writes one JSON line per processed
frame (camera, frame id, time, faces with box, spg_id, similarity, track, quality) to ``--results`` or
``results_file`` of the config, plus one line per presence transition (``{"type": "transition", ...}``).
Ctrl-C or SIGTERM stops cleanly (children stopped, SharedMemory unlinked). ``--inline`` runs everything in
one process (dev mode, same stages). Without ``--headless`` ``app.py`` opens the console GUI instead.
Prometheus metrics (``monitoring.metrics_port``) and MQTT events (``mqtt.enabled``) come from the router, as in
the console.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

from cli.common import config_from_args, fail, positive_seconds, run_guarded
from core.attendance import AttendanceService
from core.attendance_api import FraudAlert
from core.config import AppConfig
from core.messages import FrameResult
from core.presence import Transition

log = logging.getLogger("cli.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no GUI: run the pipeline and write what it sees")
    parser.add_argument("--duration", type=positive_seconds, default=None, metavar="SECONDS",
                        help="stop after this many seconds (more than 0)")
    parser.add_argument("--results", type=Path, default=None, metavar="FILE",
                        help="per-frame results as JSON lines (default: results_file in the config)")
    parser.add_argument("--inline", action="store_true", help="everything in one process (single-camera dev mode)")
    parser.add_argument("--no-presence", action="store_true", help="do not update presence / the events database")


def result_line(r: FrameResult) -> dict[str, Any]:
    return {
        "type": "frame", "camera_id": r.camera_id, "frame_id": r.frame_id, "timestamp": round(r.timestamp, 3),
        "latency_ms": round(r.latency_ms, 1), "frame_shape": list(r.frame_shape),
        "faces": [{"bbox": [round(v, 1) for v in f.bbox], "spg_id": f.spg_id, "similarity": round(f.similarity, 4),
                   "track_id": f.track_id, "det_score": round(f.det_score, 3), "matchable": f.matchable,
                   "quality": f.quality, "fraud": str(f.fraud), "liveness": f.liveness} for f in r.faces],
    }


def transition_line(t: Transition) -> dict[str, Any]:
    return {"type": "transition", "spg_id": t.spg_id, "name": t.name, "from": t.from_state.value,
            "to": t.to_state.value, "timestamp": t.timestamp, "camera_id": t.camera_id, "alert": t.alert}


def fraud_line(a: FraudAlert) -> dict[str, Any]:
    return {"type": "possible_spoof", "spg_id": a.spg_id, "name": a.name, "camera_id": a.camera_id,
            "check": a.kind, "liveness": a.liveness, "timestamp": a.timestamp}


def open_presence(cfg: AppConfig, data_dir: Path) -> AttendanceService | None:
    """The attendance service on ``<data_dir>/events.db``; None (JSON lines only) when it cannot open."""
    from core.attendance import open_attendance
    from core.events_backend import EventStoreError
    from core.gallery import Gallery
    from core.paths import DataLayout

    try:
        gallery = Gallery(DataLayout(data_dir).gallery)
        return open_attendance(cfg, data_dir, gallery.names)
    except (EventStoreError, OSError) as exc:
        log.warning("presence tracking not available (%s); writing per-frame results only", exc)
        return None


class _StopRequest:
    """Ctrl-C / SIGTERM set a flag that the router loop checks between two polls.

    Raising KeyboardInterrupt at an arbitrary point could leave a multiprocessing queue's lock held
    (inside ``poll``), and the shutdown that follows would then wait on it forever.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}
        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):  # SIGBREAK: Ctrl-Break on Windows
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread
                pass

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # asked twice: stop waiting politely
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self._old.clear()


def _body(args: argparse.Namespace) -> int:
    from core.logging_setup import setup_logging
    from core.paths import DataLayout
    from workers.pipeline_api import PipelineApi
    from workers.router import Router, events_for, metrics_for, unknown_keeper_for

    if not args.headless:  # app.py opens the console itself; cli/ never imports ui/
        return fail("'run' without --headless opens the console: start it through app.py")
    cfg = config_from_args(args)
    data_dir = cfg.resolved_data_dir()
    setup_logging(cfg.logging.level, DataLayout(data_dir).ensure().logs)
    if not cfg.cameras:
        return fail("no cameras configured; add a 'cameras:' list to the config (see configs/app.yaml)")
    out_path = args.results or cfg.results_file
    data_dir.mkdir(parents=True, exist_ok=True)
    from core.instance_lock import HEADLESS, AlreadyRunning, InstanceLock, InstanceLockError

    try:
        lock = InstanceLock(data_dir, HEADLESS).acquire()  # one run per data folder, console included
    except AlreadyRunning as exc:
        return fail(str(exc), 3)
    except InstanceLockError as exc:
        return fail(str(exc))
    if args.inline:
        from workers.inline_pipeline import InlinePipeline

        pipeline: PipelineApi = InlinePipeline(cfg, data_dir)
    else:
        from workers.pipeline import Pipeline

        pipeline = Pipeline(cfg, data_dir)
    attendance = None if args.no_presence else open_presence(cfg, data_dir)
    router = Router(pipeline, attendance, unknown_keeper_for(cfg, data_dir), metrics=metrics_for(cfg),
                    events=events_for(cfg))
    out: IO[str] | None = open(out_path, "a", encoding="utf-8") if out_path else None  # noqa: SIM115 (closed in the finally below)
    end = time.monotonic() + args.duration if args.duration else None
    stop = _StopRequest()
    try:
        router.start()
        print(f"running {len(cfg.cameras)} camera(s); Ctrl-C to stop", file=sys.stderr)
        while not stop.requested and (end is None or time.monotonic() < end):
            batch = router.step()
            for e in batch.errors:
                print(f"warning: {e}", file=sys.stderr)
            for st in batch.state_changes:
                print(f"camera {st.camera_id}: {st.state.value}{': ' + st.reason if st.reason else ''}",
                      file=sys.stderr)
            for t in batch.transitions:
                print(f"{t.spg_id}: {t.from_state.value} -> {t.to_state.value}", file=sys.stderr)
            for a in batch.fraud:
                print(f"{a.spg_id}: possible photo or screen at camera {a.camera_id} ({a.kind} check)", file=sys.stderr)
            if out:
                for r in batch.results:
                    out.write(json.dumps(result_line(r)) + "\n")
                for t in batch.transitions:
                    out.write(json.dumps(transition_line(t)) + "\n")
                for a in batch.fraud:
                    out.write(json.dumps(fraud_line(a)) + "\n")
                out.flush()
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the handler was installed
        pass
    finally:
        if stop.requested:
            print("stopping", file=sys.stderr)
        try:
            router.close()
        finally:
            stop.restore()
            if out:
                out.close()
            lock.release()
    m = pipeline.metrics()
    kept = router.unknown_keeper.saved if router.unknown_keeper is not None else 0
    print(f"processed {router.frames} frames, {router.faces} faces, {kept} unknown face(s) kept; inference p50 "
          f"{m.latency_p50_ms:.0f} ms, p95 {m.latency_p95_ms:.0f} ms", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
