"""app.py run --headless --config FILE [--duration SECONDS] [--results FILE] [--inline]

Runs the camera pipeline without a GUI: the router loop ``batch = pipeline.poll(); attendance...; tick()``.
Writes one JSON line per processed frame (camera, frame id, time, faces with box, spg_id, similarity, track,
quality) to ``--results`` or ``results_file`` of the config, plus one line per presence transition
(``{"type": "transition", ...}``) when the attendance service (``core.attendance``) can be opened; presence
events also go to the events database as in the console. Ctrl-C or SIGTERM stops cleanly (children stopped,
SharedMemory unlinked). ``--inline`` runs everything in one process (dev mode, same stages).
Without ``--headless`` app.py opens the console GUI instead (cli/ never imports ui/).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import config_from_args, fail, positive_seconds, run_guarded
from core.pipeline_health import PipelineHealth

if TYPE_CHECKING:
    from workers.inline_pipeline import InlinePipeline
    from workers.pipeline import Pipeline

log = logging.getLogger("cli.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no GUI: run the pipeline and write what it sees")
    parser.add_argument("--duration", type=positive_seconds, default=None, metavar="SECONDS",
                        help="stop after this many seconds (more than 0)")
    parser.add_argument("--results", type=Path, default=None, metavar="FILE",
                        help="per-frame results as JSON lines (default: results_file in the config)")
    parser.add_argument("--inline", action="store_true", help="everything in one process (single-camera dev mode)")
    parser.add_argument("--no-presence", action="store_true", help="do not update presence / the events database")


def result_line(r: Any) -> dict:
    return {
        "type": "frame", "camera_id": r.camera_id, "frame_id": r.frame_id, "timestamp": round(r.timestamp, 3),
        "latency_ms": round(r.latency_ms, 1), "frame_shape": list(r.frame_shape),
        "faces": [{"bbox": [round(v, 1) for v in f.bbox], "spg_id": f.spg_id, "similarity": round(f.similarity, 4),
                   "track_id": f.track_id, "det_score": round(f.det_score, 3), "matchable": f.matchable,
                   "quality": f.quality} for f in r.faces],
    }


def transition_line(t: Any) -> dict:
    def val(x: Any) -> Any:
        return getattr(x, "value", x)

    return {"type": "transition", "spg_id": getattr(t, "spg_id", None), "name": getattr(t, "name", ""),
            "from": val(getattr(t, "from_state", None)), "to": val(getattr(t, "to_state", None)),
            "timestamp": getattr(t, "timestamp", None), "camera_id": getattr(t, "camera_id", ""),
            "alert": bool(getattr(t, "alert", False))}


def open_presence(cfg: Any, data_dir: Path) -> Any | None:
    """The presence hook: core.attendance's service if it is installed and opens; else None (JSON lines only)."""
    try:
        from core.attendance import open_attendance
        from core.gallery import Gallery
        from core.paths import DataLayout

        gallery = Gallery(DataLayout(data_dir).gallery)
        return open_attendance(cfg, data_dir, gallery.names)
    except Exception as exc:  # noqa: BLE001 - presence is optional in headless runs
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
    pipeline: Pipeline | InlinePipeline
    if args.inline:
        from workers.inline_pipeline import InlinePipeline

        pipeline = InlinePipeline(cfg, data_dir)
    else:
        from workers.pipeline import Pipeline

        pipeline = Pipeline(cfg, data_dir)
    attendance = None if args.no_presence else open_presence(cfg, data_dir)
    out = open(out_path, "a", encoding="utf-8") if out_path else None  # noqa: SIM115 (closed in the finally below)
    health = PipelineHealth()
    frames = faces = 0
    transitions: list[Any] = []
    end = time.monotonic() + args.duration if args.duration else None
    stop = _StopRequest()
    try:
        pipeline.start()
        print(f"running {len(cfg.cameras)} camera(s); Ctrl-C to stop", file=sys.stderr)
        while not stop.requested and (end is None or time.monotonic() < end):
            batch = pipeline.poll()
            for r in batch.results:
                frames += 1
                faces += len(r.faces)
                if out:
                    out.write(json.dumps(result_line(r)) + "\n")
                if attendance is not None:
                    snap = None
                    if any(f.spg_id for f in r.faces):
                        snap = pipeline.read_frame(r.camera_id, r.slot, r.generation)
                    transitions.extend(attendance.on_frame_result(r, snap) or [])
            for e in batch.errors:
                print(f"warning: {e}", file=sys.stderr)
            if attendance is not None:
                health.update(batch)
                attendance.on_pipeline_health(health.camera_live(), health.inference_ok(), health.ended())
                transitions.extend(attendance.tick() or [])
            for t in transitions:
                line = transition_line(t)
                print(f"{line['spg_id']}: {line['from']} -> {line['to']}", file=sys.stderr)
                if out:
                    out.write(json.dumps(line) + "\n")
            transitions.clear()
            if out:
                out.flush()
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the handler was installed
        pass
    finally:
        if stop.requested:
            print("stopping", file=sys.stderr)
        pipeline.stop()
        stop.restore()
        if attendance is not None:
            attendance.close()
        if out:
            out.close()
        lock.release()
    m = pipeline.metrics()
    print(f"processed {frames} frames, {faces} faces; inference p50 {m.latency_p50_ms:.0f} ms, "
          f"p95 {m.latency_p95_ms:.0f} ms", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
