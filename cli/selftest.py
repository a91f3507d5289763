"""``app.py --selftest`` (and ``SPGPresenceConsole --selftest`` in the packaged build): check an install.

How support verifies an outlet PC. Each check prints one line, ``[ OK ] name: detail`` or
``[FAIL] name: reason``, and the exit code is 0 only if every check passed. The same lines are written to
``<data_dir>/logs/selftest.log`` (a windowed Windows executable has no console to print to).

Checks, in order (a check that needs an earlier one that failed fails with "skipped: ..."):

- ``data folder``: the per-user data folder (or ``--data-dir`` / ``SPG_DATA_DIR``) exists and is writable
- ``resources``: the bundled self-test image and the default config are found (frozen or source tree)
- ``qt``: PySide6 imports and the platform plugin for this OS is present (no window is opened)
- ``engine``: the configured engine loads (``engine.kind``; with ``--pack`` and kind ``auto`` that pack must
  load: a broken pack fails here instead of silently falling back to the offline engine)
- ``detection``: exactly one face is found in the bundled image
- ``matching``: that face is enrolled into a temporary gallery and a mirrored copy of the image matches it
- ``shared memory``: a frame ring is created, written, read back and unlinked
- ``camera worker``: a tiny video is written (cv2.VideoWriter, FFmpeg's mp4v), one real camera worker process
  (``workers.camera_worker.run_camera_worker``) is started on it with the spawn start method, delivers a frame
  through SharedMemory, and is stopped (exit code 0)

Works headless (nothing here needs a display).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TextIO, TypeVar

if TYPE_CHECKING:  # the checks import what they test themselves, so a broken install fails one check, not all
    import numpy as np

    from core.config import AppConfig
    from core.engine.base import DetectedFace, FaceEngine

T = TypeVar("T")

SELFTEST_IMAGE = "selftest_face.jpg"
"""In resources/: NASA's astronaut portrait (Eileen Collins) from scikit-image's data, public domain."""
SELFTEST_SPG = "selftest"
CAMERA_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:  # pragma: no cover - wired as a top-level flag
    """``--selftest`` is a top-level flag of app.py; nothing extra to add."""


class CheckFailed(Exception):
    """A check failed; the message is the reason printed after ``[FAIL]``."""


@dataclass
class Context:
    args: argparse.Namespace
    cfg: AppConfig | None = None
    data_dir: Path | None = None
    tmp: Path | None = None
    image_path: Path | None = None
    engine: FaceEngine | None = None
    image: np.ndarray | None = None
    face: DetectedFace | None = None
    results: list[tuple[str, bool, str]] = field(default_factory=list)


def _need(value: T | None, what: str) -> T:
    """The result of an earlier check, or this check is skipped because ``what`` failed."""
    if value is None:
        raise CheckFailed(f"skipped: {what} failed")
    return value


# --- checks --------------------------------------------------------------------------------------------
def check_data_folder(ctx: Context) -> str:
    from cli.common import config_from_args
    from core.paths import DataLayout

    ctx.cfg = config_from_args(ctx.args)
    data_dir = ctx.cfg.resolved_data_dir()
    layout = DataLayout(data_dir).ensure()
    probe = layout.logs / f".selftest_{os.getpid()}.tmp"
    probe.write_text("ok", encoding="utf-8")
    if probe.read_text(encoding="utf-8") != "ok":
        raise CheckFailed(f"{data_dir}: a file written there does not read back")
    probe.unlink()
    ctx.data_dir = data_dir
    # the remaining checks write their files (gallery, video) under the data folder, as the console does: a user
    # name with spaces or non-ASCII letters in the path is exercised by every check, not just this one
    ctx.tmp = Path(tempfile.mkdtemp(prefix=".selftest_", dir=layout.root))
    return f"{data_dir} (writable)"


def check_resources(ctx: Context) -> str:
    from core.paths import REPO_CONFIG_DIR, RESOURCES_DIR, is_frozen

    image = RESOURCES_DIR / SELFTEST_IMAGE
    missing = [str(p) for p in (image, REPO_CONFIG_DIR / "app.yaml") if not p.is_file()]
    if missing:
        raise CheckFailed(f"missing {', '.join(missing)}; the install is incomplete: copy the whole folder again")
    ctx.image_path = image
    return f"{RESOURCES_DIR} ({'frozen build' if is_frozen() else 'source tree'})"


def check_qt(ctx: Context) -> str:
    import PySide6
    from PySide6 import QtWidgets  # noqa: F401 - the import is the check
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    names = sorted(p.name for p in plugins.glob("*")) if plugins.is_dir() else []
    wanted = {"win32": "qwindows", "darwin": "qcocoa"}.get(sys.platform, "qxcb")
    requested = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    need = [wanted] + ([f"q{requested}"] if requested else [])
    missing = [n for n in need if not any(x.startswith((n + ".", "lib" + n + ".")) for x in names)]
    if missing:
        raise CheckFailed(f"Qt platform plugin(s) {', '.join(missing)} not found in {plugins}; the install is incomplete")
    return f"PySide6 {PySide6.__version__}, platform plugins: {', '.join(n.split('.')[0] for n in names)}"


def check_engine(ctx: Context) -> str:
    from core.engine.factory import create_engine

    cfg = _need(ctx.cfg, "data folder")
    engine_cfg = cfg.engine
    data_dir = _need(ctx.data_dir, "data folder")
    if ctx.args.pack and engine_cfg.kind == "auto":
        # support asked about this pack: report it broken instead of silently falling back to dlib
        from core.engine.factory import engine_for_pack
        from core.engine.packs import find_pack

        engine = engine_for_pack(engine_cfg, find_pack(engine_cfg.pack, data_dir))
    else:
        engine = create_engine(engine_cfg, data_dir)
    ctx.engine = engine
    info = engine.info
    return f"{info.model_id} on {info.provider} (threshold {info.threshold:.2f})"


def check_detection(ctx: Context) -> str:
    import cv2

    engine = _need(ctx.engine, "engine")
    path = _need(ctx.image_path, "resources")
    image = cv2.imdecode(__import__("numpy").fromfile(str(path), dtype="uint8"), cv2.IMREAD_COLOR)
    if image is None:
        raise CheckFailed(f"{path} cannot be decoded (OpenCV image codecs missing?)")
    t0 = time.perf_counter()
    faces = engine.detect(image)
    ms = (time.perf_counter() - t0) * 1000
    if len(faces) != 1:
        raise CheckFailed(f"expected 1 face in {path.name}, found {len(faces)}")
    ctx.image, ctx.face = image, faces[0]
    f = faces[0]
    return f"1 face, {f.width:.0f}x{f.height:.0f} px, score {f.score:.2f}, {ms:.0f} ms"


def check_matching(ctx: Context) -> str:
    import cv2

    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.matcher import Matcher

    engine = _need(ctx.engine, "engine")
    image = _need(ctx.image, "detection")
    gallery = Gallery(Path(_need(ctx.tmp, "temp folder")) / "gallery")
    enroll_photos(engine, gallery, SELFTEST_SPG, "Self test", [_need(ctx.image_path, "resources")], cfg=_need(ctx.cfg, "data folder").engine)
    ids, matrix = gallery.matrix(engine.info.model_id)
    if len(ids) != 1:
        raise CheckFailed(f"enrollment stored {len(ids)} samples, expected 1")
    mirrored = cv2.flip(image, 1)
    faces = engine.detect(mirrored)
    if len(faces) != 1:
        raise CheckFailed(f"expected 1 face in the mirrored image, found {len(faces)}")
    emb = engine.embed(mirrored, faces)
    result = Matcher(ids, matrix, engine.threshold, engine.margin).match_one(emb[0])
    if not result.is_match or result.spg_id != SELFTEST_SPG:
        raise CheckFailed(f"the enrolled face did not match itself (similarity {result.similarity:.2f}, threshold "
                          f"{engine.threshold:.2f}); the model files may be damaged")
    return f"enrolled and matched itself (similarity {result.similarity:.2f} >= {engine.threshold:.2f})"


def check_shared_memory(ctx: Context) -> str:
    import numpy as np

    from workers import frame_buffer as fb

    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    name = fb.buffer_name("selftest", fb.run_token())
    buf = fb.FrameBuffer.create(name, 48, 64, 2)
    try:
        slot, gen = buf.write(frame)
        back = buf.read(slot, gen)
        ok = back is not None and bool(np.array_equal(back, frame))
    finally:
        buf.close()
    if not ok:
        raise CheckFailed("a frame written to SharedMemory did not read back identically")
    return f"{name} created, written, read back, unlinked"


def write_test_video(path: Path, frames: int = 30, size: tuple[int, int] = (160, 120), fps: float = 10.0) -> Path:
    """A tiny moving-pattern MP4 (FFmpeg's mp4v), the file camera of the camera-worker check."""
    import cv2
    import numpy as np

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise CheckFailed(f"OpenCV cannot write {path.suffix} video (FFmpeg missing from this build?)")
    try:
        for i in range(frames):
            img = np.full((h, w, 3), (i * 8) % 255, np.uint8)
            cv2.rectangle(img, (i * 4 % w, 20), (i * 4 % w + 30, 60), (0, 0, 255), -1)
            writer.write(img)
    finally:
        writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        raise CheckFailed(f"the test video {path} was not written")
    return path


def check_camera_worker(ctx: Context) -> str:
    tmp = Path(_need(ctx.tmp, "temp folder"))
    video = write_test_video(tmp / "selftest camera.mp4")
    _need(ctx.cfg, "data folder")
    return _camera_probe(video, CAMERA_TIMEOUT_S)


def _camera_probe(video: Path, timeout_s: float) -> str:
    """Start one real camera worker process (spawn) on the file camera; one frame through SharedMemory; stop it."""
    import queue as queue_mod

    import numpy as np

    from core.config import CameraConfig, CameraDefaults
    from core.messages import CameraState, CameraStatus, FrameMeta
    from workers import frame_buffer as fb
    from workers.camera_worker import CameraWorkerArgs, run_camera_worker
    from workers.child_logging import child_log_queue
    from workers.mp import mp_context

    ctx = mp_context()
    defaults = CameraDefaults(process_fps=10.0, max_frame_width=160, max_frame_height=120, shm_slots=2,
                              open_timeout_s=10.0, read_timeout_s=10.0)
    cam = CameraConfig(id="selftest", name="self-test file camera", source=str(video), loop=True)
    name = fb.buffer_name(cam.id, fb.run_token())
    buf = fb.FrameBuffer.create(name, defaults.max_frame_height, defaults.max_frame_width, defaults.shm_slots)
    input_q, status_q, feedback_q = ctx.Queue(maxsize=8), ctx.Queue(), ctx.Queue(maxsize=4)
    stop = ctx.Event()
    heartbeat = ctx.Value("d", 0.0, lock=False)
    args = CameraWorkerArgs(cam, defaults, name, "WARNING")
    proc = ctx.Process(target=run_camera_worker, name="spg-camera-selftest", daemon=True,
                       args=(args, input_q, status_q, feedback_q, stop, heartbeat, child_log_queue()))
    states: list[str] = []

    def drain_status() -> None:
        try:
            while True:
                st = status_q.get_nowait()
                if isinstance(st, CameraStatus):
                    states.append(f"{st.state.value}"
                                  + (f" ({st.reason})" if st.reason and st.state in (CameraState.FAILED, CameraState.RECONNECTING) else ""))
        except (queue_mod.Empty, OSError, EOFError):
            pass

    t0 = time.perf_counter()
    try:
        proc.start()
        meta = None
        deadline = time.monotonic() + timeout_s
        while meta is None and time.monotonic() < deadline:
            try:
                item = input_q.get(timeout=0.5)
            except queue_mod.Empty:
                if not proc.is_alive():
                    break
                continue
            if isinstance(item, FrameMeta):
                meta = item
        drain_status()
        if meta is None:
            why = f"exited with code {proc.exitcode}" if not proc.is_alive() else f"sent no frame within {timeout_s:.0f} s"
            raise CheckFailed(f"the camera worker process {why}; statuses: {', '.join(states) or 'none'}")
        frame = buf.read(meta.slot, meta.generation) if meta.buffer else meta.frame
        if frame is None or frame.ndim != 3 or not np.any(frame):
            raise CheckFailed("the camera worker's frame did not arrive intact through SharedMemory")
        first_frame_s = time.perf_counter() - t0
        stop.set()
        proc.join(timeout=15)
        if proc.is_alive():
            raise CheckFailed("the camera worker process did not stop within 15 s")
        if proc.exitcode != 0:
            raise CheckFailed(f"the camera worker process exited with code {proc.exitcode}")
        drain_status()
        via = "SharedMemory" if meta.buffer else "the queue (SharedMemory fallback)"
        return (f"spawned pid {proc.pid}, file camera {frame.shape[1]}x{frame.shape[0]}, first frame through {via} "
                f"in {first_frame_s:.1f} s, stopped (exit 0); states: {' > '.join(dict.fromkeys(states)) or '-'}")
    finally:
        stop.set()
        if proc.is_alive():
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        buf.close()
        for q in (input_q, status_q, feedback_q):
            q.cancel_join_thread()
            q.close()


CHECKS: list[tuple[str, Callable[[Context], str]]] = [
    ("data folder", check_data_folder),
    ("resources", check_resources),
    ("qt", check_qt),
    ("engine", check_engine),
    ("detection", check_detection),
    ("matching", check_matching),
    ("shared memory", check_shared_memory),
    ("camera worker", check_camera_worker),
]


# --- runner --------------------------------------------------------------------------------------------
def _stream() -> TextIO | None:
    out = sys.stdout
    return out if out is not None and not out.closed else None


def _emit(lines: list[str], line: str) -> None:
    lines.append(line)
    out = _stream()
    if out is not None:
        try:
            print(line, file=out, flush=True)
        except (OSError, UnicodeEncodeError):
            print(line.encode("ascii", "replace").decode("ascii"), file=out, flush=True)


def run_checks(args: argparse.Namespace) -> tuple[bool, list[str]]:
    from core.secrets import redact

    ctx = Context(args=args)
    lines: list[str] = []
    _emit(lines, f"SPG Presence Console self-test - Python {platform.python_version()}, {platform.platform()}")
    system_tmp = Path(tempfile.mkdtemp(prefix="spg_selftest_"))
    ctx.tmp = system_tmp  # until the data folder check moves it into the data folder
    all_ok = True
    try:
        for name, check in CHECKS:
            try:
                detail = check(ctx)
                ok = True
            except CheckFailed as exc:
                ok, detail = False, str(exc)
            except Exception as exc:  # noqa: BLE001 - every failure becomes one line, never a traceback exit
                ok, detail = False, f"{exc.__class__.__name__}: {exc}"
                log.debug("selftest %s failed:\n%s", name, traceback.format_exc())
            detail = redact(str(detail)).replace("\n", " ")
            all_ok &= ok
            ctx.results.append((name, ok, detail))
            _emit(lines, f"[{' OK ' if ok else 'FAIL'}] {name}: {detail}")
    finally:
        for folder in {system_tmp, ctx.tmp}:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    _emit(lines, "self-test passed" if all_ok else "self-test FAILED")
    if ctx.data_dir is not None:
        _save_log(ctx.data_dir, lines)
    return all_ok, lines


def _save_log(data_dir: Path, lines: list[str]) -> None:
    from core.paths import DataLayout

    try:
        path = DataLayout(data_dir).logs / "selftest.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        path.write_text(f"# {stamp}\n" + "\n".join(lines) + "\n", encoding="utf-8")
        _emit([], f"(saved to {path})")
    except OSError:
        pass


def _show_result_dialog(ok: bool, lines: list[str]) -> None:
    """Windowed executable without a console (Windows double-click): show the result in a message box."""
    no_console = _stream() is None or os.environ.get("SPG_NO_CONSOLE") == "1"  # set by app.ensure_std_streams
    if not no_console or os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox

        app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - must exist for the box
        box = QMessageBox(QMessageBox.Icon.Information if ok else QMessageBox.Icon.Critical, "SPG Presence Console",
                          "\n".join(lines))
        box.exec()
    except Exception:  # noqa: BLE001 - the log file is written either way
        pass


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ok, lines = run_checks(args)
    _show_result_dialog(ok, lines)
    return 0 if ok else 1
