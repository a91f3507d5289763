"""Inference server: ONE process that loads the face engine once and serves every camera.

Loop (``run_inference_server``):

1. drain the input queue; keep only the NEWEST :class:`FrameMeta` per camera (older ones are stale:
   dropped and counted, so latency stays bounded); apply ``inference.frame_skip``;
2. copy each frame out of its SharedMemory slot (torn reads are detected by the slot generation and dropped);
3. :class:`InferenceCore` - detect per frame, track (``core.tracker``), then embed the faces that need it
   across ALL cameras in one batched ``engine.embed_chips`` call, match with one dot product
   (``core.matcher``), vote per track; faces too small (``engine.min_face_px``) or too blurred
   (``engine.min_sharpness``) are returned with ``matchable=False`` and never matched;
4. put one :class:`FrameResult` per frame (boxes and landmarks in ORIGINAL coordinates: stored x scale) on
   the output queue, and :class:`InferenceStats` about once a second.

The gallery is hot-reloaded: ``Gallery.version()`` is checked at most every 0.3 s and the matcher rebuilt
when it changes, so an enrollment or removal reaches matching within a second without a restart.
The input queue is read with ``get_nowait`` (its lock is held only for microseconds), so a server killed
at any moment cannot leave the queue locked for the one the supervisor starts next.
"""

from __future__ import annotations

import importlib
import logging
import queue
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.clock import Clock, SystemClock
from core.config import AppConfig
from core.engine.base import DetectedFace, FaceEngine
from core.face_quality import sharpness
from core.fraud_checks import FraudGuard
from core.gated_detection import GatedDetector
from core.identify import gallery_matcher
from core.liveness import LivenessChecker, LivenessError, liveness_for
from core.logging_setup import configure_child_logging
from core.matcher import Matcher
from core.messages import CameraRemoved, FaceResult, FrameMeta, FrameResult, Fraud, InferenceStats, Stop, WorkerError
from core.motion import MotionDetector
from core.regions import DetectionPlanner
from core.secrets import redact
from core.tracker import FaceTracker
from workers.frame_buffer import FrameBuffer
from workers.process_priority import lower_own_priority

log = logging.getLogger(__name__)

GALLERY_CHECK_S = 0.3
STATS_EVERY_S = 1.0


@dataclass(frozen=True)
class EngineSpec:
    """Picklable recipe for the engine the child builds: ``factory`` is ``"module:function"`` called as
    ``function(cfg.engine, data_dir, **kwargs)``. Default: the product engine factory."""

    factory: str = "core.engine.factory:create_engine"
    kwargs: dict = field(default_factory=dict)

    def build(self, cfg: AppConfig, data_dir: Path) -> FaceEngine:
        module, _, name = self.factory.partition(":")
        fn = getattr(importlib.import_module(module), name)
        return fn(cfg.engine, Path(data_dir), **self.kwargs)


class GalleryWatch:
    """The current :class:`Matcher`, rebuilt when ``Gallery.version()`` changes (checked at most every 0.3 s)."""

    def __init__(self, data_dir: Path, engine: FaceEngine, check_every: float = GALLERY_CHECK_S):
        self.engine = engine
        self.check_every = check_every
        self._gallery: Any = None
        self._version: Any = object()
        self._checked = 0.0
        empty = np.zeros((0, engine.info.embedding_dim), np.float32)
        self.matcher = Matcher([], empty, engine.threshold, engine.margin)
        try:
            from core.gallery import Gallery
            from core.paths import DataLayout

            self._gallery = Gallery(DataLayout(Path(data_dir)).gallery)
        except Exception as exc:  # noqa: BLE001 - no gallery yet: detect only
            log.warning("gallery not available (%s): faces are detected but not identified", exc)
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Rebuild the matcher if the gallery changed; True when it was rebuilt."""
        if self._gallery is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked < self.check_every:
            return False
        self._checked = now
        try:
            version = self._gallery.version()
            if version == self._version and not force:
                return False
            self.matcher = gallery_matcher(self._gallery, self.engine.info.model_id, self.engine.info.embedding_dim,
                                           self.engine.threshold, self.engine.margin)  # samples + negatives
            self._version = version
            log.info("gallery loaded: %d samples of %d people", self.matcher.size, len(self.matcher.people))
            return True
        except Exception as exc:  # noqa: BLE001 - a half-written gallery: keep the old matcher, retry later
            log.warning("gallery reload failed (%s); keeping the previous one", redact(str(exc)))
            return False

    @property
    def people(self) -> int:
        return len(self.matcher.people)


class InferenceCore:
    """The per-batch stages: detect -> quality -> track -> batched embed -> match -> vote -> FrameResult."""

    def __init__(self, cfg: AppConfig, engine: FaceEngine, gallery: GalleryWatch,
                 liveness: LivenessChecker | None = None, clock: Clock | None = None):
        """``liveness``: the checker ``fraud.liveness`` uses (:func:`liveness_checker` builds the real one)."""
        self.cfg = cfg
        self.engine = engine
        self.gallery = gallery
        self.liveness = liveness
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.trackers: dict[str, FaceTracker] = {}
        self.detectors: dict[str, GatedDetector] = {}
        self.guards: dict[str, FraudGuard] = {}
        self.embeddings = 0

    def tracker(self, camera_id: str) -> FaceTracker:
        t = self.trackers.get(camera_id)
        if t is None:
            inf = self.cfg.inference
            t = self.trackers[camera_id] = FaceTracker(inf.track_iou, inf.reverify_every, inf.vote_window, inf.vote_min)
        return t

    def detector(self, camera_id: str) -> GatedDetector:
        """The camera's motion-gated detector (``inference.motion_gating``, or the camera's own switch)."""
        d = self.detectors.get(camera_id)
        if d is None:
            inf = self.cfg.inference
            own = next((c.motion_gating for c in self.cfg.cameras if c.id == camera_id), None)
            gating = inf.motion_gating if own is None else own
            size = int(self.cfg.engine.det_size)
            planner = DetectionPlanner(gating, inf.full_frame_every_s, min(inf.region_min_px, size), size)
            motion = MotionDetector(threshold=inf.motion_threshold, min_area=inf.motion_min_area)
            d = self.detectors[camera_id] = GatedDetector(self.engine, planner, motion)
        return d

    def guard(self, camera_id: str) -> FraudGuard:
        """The camera's fraud checks (``fraud.*``; inactive when both are off)."""
        g = self.guards.get(camera_id)
        if g is None:
            g = self.guards[camera_id] = FraudGuard(self.cfg.fraud, self.liveness, self.clock)
        return g

    def forget(self, camera_id: str) -> None:
        self.trackers.pop(camera_id, None)
        self.detectors.pop(camera_id, None)
        self.guards.pop(camera_id, None)

    def quality(self, image: np.ndarray, face: DetectedFace) -> str:
        ec = self.cfg.engine
        if min(face.width, face.height) < ec.min_face_px:
            return "too_small"
        if ec.min_sharpness > 0 and sharpness(image, face) < ec.min_sharpness:
            return "blurred"
        return "ok"

    def process(self, frames: Sequence[tuple[FrameMeta, np.ndarray]]) -> list[FrameResult]:
        if self.gallery.refresh():
            for t in self.trackers.values():
                t.forget_votes()
        per_frame: list[tuple[FrameMeta, list[DetectedFace], list[str], list[int]]] = []
        chips: list[np.ndarray] = []
        owners: list[tuple[str, int]] = []  # (camera_id, track_id) per chip
        for meta, image in frames:
            tracker = self.tracker(meta.camera_id)
            live = [(float(t.bbox[0]), float(t.bbox[1]), float(t.bbox[2]), float(t.bbox[3])) for t in tracker.tracks.values()]
            faces, _ = self.detector(meta.camera_id).detect(image, meta.capture_mono, live)
            quality = [self.quality(image, f) for f in faces]
            assigns = tracker.update([f.bbox for f in faces], [q == "ok" for q in quality])
            for f, a in zip(faces, assigns):
                if a.needs_embedding:
                    chips.append(self.engine.align(image, f))
                    owners.append((meta.camera_id, a.track_id))
            per_frame.append((meta, faces, quality, [a.track_id for a in assigns]))
        if chips:
            mb = self.cfg.inference.max_batch
            embs = np.concatenate([self.engine.embed_chips(chips[i:i + mb]) for i in range(0, len(chips), mb)])
            self.embeddings += len(chips)
            for (cam, tid), m in zip(owners, self.gallery.matcher.match(embs)):
                self.tracker(cam).record(tid, m.spg_id, m.similarity)
        now = time.monotonic()
        out: list[FrameResult] = []
        for (meta, faces, quality, tids), (_, image) in zip(per_frame, frames):
            s = float(meta.scale)
            tr = self.tracker(meta.camera_id)
            guard = self.guard(meta.camera_id)
            if guard.active:
                guard.retain(tr.tracks.keys())
            results = []
            for f, q, tid in zip(faces, quality, tids):
                spg, sim = tr.identity(tid) if q == "ok" else (None, 0.0)
                fraud, score = Fraud.NONE, None
                if spg is not None and guard.active:
                    verdict = guard.judge(image, tid, spg, f.bbox, np.asarray(f.landmarks))
                    fraud, score = verdict.fraud, verdict.liveness
                results.append(FaceResult(
                    bbox=(float(f.bbox[0]) * s, float(f.bbox[1]) * s, float(f.bbox[2]) * s, float(f.bbox[3]) * s),
                    landmarks=tuple((float(x) * s, float(y) * s) for x, y in np.asarray(f.landmarks).reshape(-1, 2)),
                    det_score=float(f.score), spg_id=spg, similarity=float(sim), track_id=int(tid),
                    matchable=q == "ok", quality=q, fraud=fraud, liveness=score))
            h, w = meta.shape[:2]
            out.append(FrameResult(meta.camera_id, meta.frame_id, meta.timestamp, meta.capture_mono, tuple(results),
                                   (int(round(h * s)), int(round(w * s))), slot=meta.slot, generation=meta.generation,
                                   latency_ms=(now - meta.capture_mono) * 1000.0))
        return out


def liveness_checker(cfg: AppConfig, data_dir: Path) -> LivenessChecker | None:
    """The MiniFASNet pair when ``fraud.liveness.enabled``; None (logged) when off or when its models are
    missing: presence goes on without the check rather than stopping every camera."""
    if not cfg.fraud.liveness.enabled:
        return None
    try:
        return liveness_for(cfg.fraud.liveness, cfg.engine, data_dir)
    except LivenessError as exc:
        log.error("liveness check is OFF: %s", exc)
        return None


class StatsWindow:
    """Latency percentiles and rates for :class:`InferenceStats`."""

    def __init__(self) -> None:
        self.latency: deque[float] = deque(maxlen=300)
        self.events: deque[tuple[float, int]] = deque()  # (time, faces) per frame
        self.by_camera: dict[str, int] = {}
        self.dropped_stale = 0
        self.torn = 0

    def add(self, r: FrameResult, now: float) -> None:
        self.latency.append(r.latency_ms)
        self.events.append((now, len(r.faces)))
        self.by_camera[r.camera_id] = self.by_camera.get(r.camera_id, 0) + 1

    def make(self, core: InferenceCore, depth: int, now: float) -> InferenceStats:
        while self.events and self.events[0][0] < now - 5.0:
            self.events.popleft()
        span = 5.0 if self.events else 1.0
        lat = np.asarray(self.latency, dtype=np.float64)
        p50, p95 = (float(np.percentile(lat, 50)), float(np.percentile(lat, 95))) if len(lat) else (0.0, 0.0)
        info = core.engine.info
        return InferenceStats(p50, p95, sum(f for _, f in self.events) / span, len(self.events) / span,
                              core.embeddings, depth, core.gallery.people, info.name, info.provider,
                              dict(self.by_camera), self.dropped_stale, time.time())


class FrameSource:
    """Newest-frame-per-camera reader over the input queue + SharedMemory attachments."""

    def __init__(self, cfg: AppConfig):
        self.cfg = cfg
        self.buffers: dict[str, FrameBuffer] = {}  # by block name
        self.skip_count: dict[str, int] = {}

    def newest(self, input_q: Any, stats: StatsWindow, limit: int = 512) -> list[FrameMeta]:
        newest: dict[str, FrameMeta] = {}
        for _ in range(limit):
            try:
                meta = input_q.get_nowait()
            except queue.Empty:
                break
            old = newest.get(meta.camera_id)
            if old is not None:
                stats.dropped_stale += 1
            newest[meta.camera_id] = meta
        out = []
        skip = self.cfg.inference.frame_skip
        for cam, meta in newest.items():
            n = self.skip_count.get(cam, 0)
            self.skip_count[cam] = n + 1
            if skip and n % (skip + 1):
                continue
            out.append(meta)
        return out

    def pixels(self, meta: FrameMeta) -> np.ndarray | None:
        if meta.frame is not None:
            return meta.frame
        if not meta.buffer:
            return None
        buf = self.buffers.get(meta.buffer)
        if buf is None:
            c = self.cfg.camera
            try:
                buf = FrameBuffer.attach(meta.buffer, c.max_frame_height, c.max_frame_width, c.shm_slots)
            except OSError as exc:
                log.warning("cannot attach frame buffer %s: %s", meta.buffer, exc)
                return None
            for name in [n for n, b in self.buffers.items() if n.startswith(f"sfb_{meta.camera_id}_")]:
                self.buffers.pop(name).close()
            self.buffers[meta.buffer] = buf
        return buf.read(meta.slot, meta.generation)

    def forget(self, camera_id: str) -> None:
        for name in [n for n in self.buffers if n.startswith(f"sfb_{camera_id}_")]:
            self.buffers.pop(name).close()
        self.skip_count.pop(camera_id, None)

    def close(self) -> None:
        for b in self.buffers.values():
            b.close()
        self.buffers.clear()


def run_inference_server(cfg: AppConfig, data_dir: str, engine_spec: EngineSpec, input_q: Any, output_q: Any,
                         control_q: Any, heartbeat: Any, log_queue: Any = None) -> None:
    """Process entry point. ``heartbeat.value`` stays 0 while the engine loads, then ``time.time()`` each loop;
    ``log_queue`` is the main process's queue for log records (``workers.child_logging``)."""
    configure_child_logging(log_queue, cfg.logging.level)
    if cfg.inference.children_below_normal:
        lower_own_priority()
    try:
        engine = engine_spec.build(cfg, Path(data_dir))
    except Exception as exc:  # noqa: BLE001 - reported to the main process, which restarts with backoff
        log.error("inference server: engine failed to load: %s", redact(str(exc)))
        output_q.put(WorkerError("inference", f"face engine failed to load: {redact(str(exc))}", time.time()))
        time.sleep(0.5)
        return
    log.info("inference server: %s (%s) loaded once", engine.info.name, engine.info.provider)

    from workers.camera_worker import ParentWatch

    parent = ParentWatch()

    def beat() -> None:
        heartbeat.value = time.time()

    try:
        serve(cfg, Path(data_dir), engine, input_q, output_q, control_q, beat, should_stop=parent.gone)
    except KeyboardInterrupt:
        pass


def serve(cfg: AppConfig, data_dir: Path, engine: FaceEngine, input_q: Any, output_q: Any, control_q: Any,
          beat: Any = lambda: None, should_stop: Any = lambda: False) -> None:
    """The server loop (also run in a thread by ``workers.inline_pipeline``): until a :class:`Stop` arrives."""
    core = InferenceCore(cfg, engine, GalleryWatch(data_dir, engine), liveness_checker(cfg, data_dir))
    frames = FrameSource(cfg)
    stats = StatsWindow()
    last_stats = time.monotonic()
    try:
        while not should_stop():
            beat()
            try:
                msg = control_q.get_nowait()
                if isinstance(msg, Stop):
                    break
                if isinstance(msg, CameraRemoved):
                    frames.forget(msg.camera_id)
                    core.forget(msg.camera_id)
            except queue.Empty:
                pass
            metas = frames.newest(input_q, stats)
            batch = []
            for meta in metas:
                img = frames.pixels(meta)
                if img is None:
                    stats.torn += 1
                    continue
                batch.append((meta, img))
            now = time.monotonic()
            if batch:
                for r in core.process(batch):
                    stats.add(r, now)
                    output_q.put(r)
            else:
                time.sleep(0.005)
            if now - last_stats >= STATS_EVERY_S:
                last_stats = now
                try:
                    depth = input_q.qsize()
                except (NotImplementedError, OSError):
                    depth = -1
                output_q.put(stats.make(core, depth, now))
    finally:
        frames.close()
