"""N file cameras at 5 fps with the real test pack: our pipeline (motion gating on, and off) vs a naive
baseline, side by side in one run.

    .venv/bin/python benchmarks/pipeline.py [--duration 60] [--cameras 4] [--fps 5] [--runs ours,off,baseline]
        [--sample-every 2]

* ours: ``workers.pipeline.Pipeline`` - one camera worker process per camera, ONE inference server (model
  loaded once, newest frame per camera, motion gating (detect where the picture moved and around tracked
  faces, the whole frame every ``inference.full_frame_every_s``), tracking so a known face is re-embedded only
  every few frames, embeddings batched across cameras), frames through SharedMemory;
* ours, gating off: the same with ``inference.motion_gating: false`` (every whole frame detected);
* baseline: the naive design - each camera its own process with its own model, full detect + embed of every
  face on every frame (at most ``--fps`` frames a second), frames handled inline.

Footage: 1280x720 files composed from ``../shared/data/faces`` photos (2-3 people per camera, some moving),
played at their real 15 fps (a file behaves like a camera); the people are enrolled from other photos.

Measured for each: frames processed per second (total and every camera), embeddings computed,
capture-to-result latency p50/p95 (capture in the camera process to the result in the main process), CPU
seconds (all processes of the run, from ``resource.getrusage``; 'n/a' on Windows), the inference server's own
CPU ms per processed frame (during the measured window), and every process's memory and CPU
(``benchmarks/proc_memory.py``: main, inference server, each camera worker; RSS and USS sampled every
``--sample-every`` seconds through psutil, else /proc; per minute in a table for runs of 2 minutes or more, and
the verdict "last minute within 5 % of the second minute" per process for runs of 3 minutes or more; peak =
the largest sum of the RSS of all processes at one sample). Beside the CPU per frame: the detector's bare
forward pass (``session.run`` alone, same session options, median of 60) at the input size a whole 1280x720
frame gets, measured in the same run - the floor a frame costs without gating. The machine's load average is
printed before, during (mean, max) and after each run.
Goals (issue 12): every camera >= 4.9 processed frames/s, p95 < 300 ms, inference CPU per frame within 1.5x of
the floor, >= 3x fewer embeddings than the baseline; with --duration >= 180 also flat memory in every process.
For the 10-minute memory run alone: ``--cameras 4 --duration 600 --runs ours``.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.proc_memory import ProcessSampler, usage  # noqa: E402
from core.config import AppConfig  # noqa: E402
from workers.mp import mp_context  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
FACES = SHARED / "faces"
PACK = SHARED / "models" / "test_pack"
PEOPLE = ["Tony_Blair", "Laura_Bush", "Colin_Powell", "Hugo_Chavez", "Serena_Williams", "Junichiro_Koizumi",
          "Gerhard_Schroeder", "Kofi_Annan"]


def make_world(root: Path, cameras: int) -> tuple[Path, list[Path]]:
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout
    from tests.compose_footage import Appearance, compose_video

    data = root / "data"
    cfg = config(data, [], 5.0)
    engine = create_engine(cfg.engine, data)
    gallery = Gallery(DataLayout(data).gallery)
    for person in PEOPLE:
        photos = sorted((FACES / person).iterdir())[:5]
        enroll_photos(engine, gallery, person.lower(), person.replace("_", " "), photos, cfg=cfg.engine)
    videos = []
    for c in range(cameras):
        a, b, s = PEOPLE[(2 * c) % len(PEOPLE)], PEOPLE[(2 * c + 1) % len(PEOPLE)], PEOPLE[(c + 5) % len(PEOPLE)]
        tl = [Appearance(sorted((FACES / a).iterdir())[5], 0, 10, (0.25, 0.5), 0.45, (0.01, 0.0)),
              Appearance(sorted((FACES / b).iterdir())[5], 0, 10, (0.55, 0.45), 0.4),
              Appearance(sorted((FACES / s).iterdir())[5], 3, 8, (0.82, 0.55), 0.35, (-0.01, 0.0))]
        videos.append(compose_video(root / f"cam{c}.mp4", tl, fps=15, size=(1280, 720)))
    return data, videos


def config(data: Path, videos: list[Path], fps: float, gating: bool = True, intra_op_threads: int = 1) -> AppConfig:
    return AppConfig.model_validate({
        "data_dir": str(data),
        "engine": {"kind": "insightface", "pack": str(PACK), "intra_op_threads": intra_op_threads},
        "camera": {"process_fps": fps}, "logging": {"level": "WARNING"}, "inference": {"motion_gating": gating},
        "cameras": [{"id": f"cam{i}", "source": str(v)} for i, v in enumerate(videos)]})


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of one process (psutil, else Linux /proc; None where neither)."""
    u = usage(pid) if pid is not None else None
    return u.cpu_s if u is not None else None


def bare_forward(cfg: AppConfig, frame_w: int = 1280, frame_h: int = 720, runs: int = 60) -> dict:
    """The detector's ``session.run`` alone at the input a whole frame gets: median wall and CPU ms."""
    from core.engine.insightface_engine import InsightFaceEngine, aspect_input_size
    from core.engine.packs import validate_pack

    engine = InsightFaceEngine(cfg.engine, validate_pack(PACK))
    w, h = aspect_input_size(frame_w, frame_h, cfg.engine.det_size)
    session, input_name, outputs = engine.detector_session(w, h)
    blob = {input_name: np.random.default_rng(0).standard_normal((1, 3, h, w)).astype(np.float32)}
    for _ in range(5):
        session.run(outputs, blob)
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        session.run(outputs, blob)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {"size": f"{w}x{h}", "wall_ms": float(np.median(wall)), "cpu_ms": float(np.median(cpu))}


def cpu_seconds() -> float | None:
    """CPU seconds of this process and its finished children (POSIX ``resource``; None on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run_ours(cfg: AppConfig, data: Path, duration: float, warmup: float, every: float) -> dict:
    from workers.pipeline import Pipeline

    cpu0 = cpu_seconds()
    p = Pipeline(cfg, data)
    p.start()
    mem = ProcessSampler(lambda: {"main": os.getpid(), **p.child_pids()}, every)
    mem.start()
    lat: list[float] = []
    per_cam: dict[str, int] = {}
    emb0 = emb1 = None
    t_end = None
    started = time.monotonic()
    while True:
        b = p.poll(0.05)
        now = time.monotonic()
        if t_end is None:
            # measure from the first results on (after spawn + model load), like the baseline
            if b.results and emb0 is None:
                t_begin = now + warmup
                emb0 = -1
            if emb0 == -1 and now >= t_begin:
                emb0 = p.metrics().embeddings
                t_end = now + duration
                t_start = now
                inf_pid = p.child_pids()["inference"]
                inf_cpu0 = process_cpu_s(inf_pid)
                mem.restart_window()
            if now - started > 300:
                raise SystemExit("our pipeline produced no results in 5 minutes")
            continue
        for r in b.results:
            lat.append((now - r.capture_mono) * 1000)
            per_cam[r.camera_id] = per_cam.get(r.camera_id, 0) + 1
        if now >= t_end:
            break
    inf_cpu1 = process_cpu_s(inf_pid) if p.child_pids()["inference"] == inf_pid else None
    time.sleep(1.2)  # one more stats message with the final embedding count
    p.poll(0.2)
    emb1 = p.metrics().embeddings
    mem.stop()
    p.stop()
    cpu1 = cpu_seconds()
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    out = summarise("ours", lat, per_cam, emb1 - emb0, cpu, mem, now - t_start)
    frames = sum(per_cam.values())
    out["inf_cpu_ms"] = ((inf_cpu1 - inf_cpu0) * 1000 / frames) if (inf_cpu0 is not None and inf_cpu1 is not None
                                                                     and frames) else None
    return out


def baseline_worker(cfg: AppConfig, index: int, out_q, start_evt, stop_evt) -> None:
    """Naive: own model, own capture, detect + embed + match every face of every (throttled) frame."""
    from core.engine.factory import create_engine
    from core.gallery import Gallery
    from core.matcher import Matcher
    from core.paths import DataLayout
    from workers.camera_source import CameraSource

    data = Path(cfg.data_dir)
    engine = create_engine(cfg.engine, data)
    ids, mat = Gallery(DataLayout(data).gallery).matrix(engine.info.model_id)
    matcher = Matcher(ids, mat, engine.threshold, engine.margin)
    cam = cfg.cameras[index]
    src = CameraSource(cam.source, cfg.camera, loop=True)
    src.open()
    out_q.put(("ready", index))
    start_evt.wait()
    period, next_t = 1.0 / cfg.camera.process_fps, 0.0
    while not stop_evt.is_set():
        frame = src.read()
        t_cap = time.monotonic()
        if t_cap < next_t:
            continue
        next_t = t_cap + period
        faces = engine.detect(frame)
        embs = engine.embed(frame, faces)
        matcher.match(embs)
        out_q.put(("result", cam.id, t_cap, len(faces)))
    src.close()


def run_baseline(cfg: AppConfig, duration: float, warmup: float, every: float) -> dict:
    ctx = mp_context()
    cpu0 = cpu_seconds()
    out_q, start_evt, stop_evt = ctx.Queue(), ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=baseline_worker, args=(cfg, i, out_q, start_evt, stop_evt), daemon=True)
             for i in range(len(cfg.cameras))]
    for pr in procs:
        pr.start()
    ready = 0
    while ready < len(procs):
        if out_q.get(timeout=300)[0] == "ready":
            ready += 1
    start_evt.set()
    roles = {"main": os.getpid(), **{c.id: pr.pid for c, pr in zip(cfg.cameras, procs)}}
    mem = ProcessSampler(lambda: roles, every)
    mem.start()
    lat: list[float] = []
    per_cam: dict[str, int] = {}
    embeddings = 0
    t_start = time.monotonic() + warmup
    windowed = False
    t_end = t_start + duration
    while True:
        now = time.monotonic()
        if now >= t_end:
            break
        try:
            msg = out_q.get(timeout=0.1)
        except queue.Empty:
            continue
        now = time.monotonic()
        if not windowed and now >= t_start:
            mem.restart_window()
            windowed = True
        if msg[0] == "result" and now >= t_start:
            lat.append((now - msg[2]) * 1000)
            per_cam[msg[1]] = per_cam.get(msg[1], 0) + 1
            embeddings += msg[3]
    mem.stop()
    stop_evt.set()
    for pr in procs:
        pr.join(10)
        if pr.is_alive():
            pr.kill()
            pr.join()
    cpu1 = cpu_seconds()
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    return summarise("baseline", lat, per_cam, embeddings, cpu, mem, duration)


def summarise(name: str, lat: list[float], per_cam: dict[str, int], embeddings: int, cpu: float | None,
              mem: ProcessSampler, seconds: float) -> dict:
    arr = np.asarray(lat) if lat else np.zeros(1)
    frames = sum(per_cam.values())
    cam_fps = {c: n / seconds for c, n in sorted(per_cam.items(), key=lambda kv: (len(kv[0]), kv[0]))}
    return {"name": name, "inf_cpu_ms": None, "emb_per_frame": embeddings / frames if frames else 0.0,
            "fps": frames / seconds, "min_cam_fps": min(cam_fps.values(), default=0.0), "cam_fps": cam_fps,
            "embeddings": embeddings, "p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "cpu": cpu, "peak_mb": mem.peak_total_mb or None, "seconds": seconds, "mem": mem}


def load_avg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def brief(r: dict) -> str:
    return ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
                     if k not in ("mem", "cam_fps"))


def print_run(title: str, r: dict, minute_table: bool) -> None:
    """Every camera's frames/s and every process's memory (and CPU) of one run."""
    print(f"{title}: {brief(r)}", flush=True)
    print("  frames / s per camera: " + ", ".join(f"{c} {v:.2f}" for c, v in r["cam_fps"].items()), flush=True)
    mem: ProcessSampler = r["mem"]
    la = mem.load_summary()
    print(f"  load average during the run: {la}", flush=True)
    for line in mem.report(title, r["cam_fps"]):
        print(line, flush=True)
    if minute_table:
        for line in mem.timeline(60.0):
            print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds per run (default 60)")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds after the first results before measuring")
    ap.add_argument("--runs", default="ours,off,baseline",
                    help="which runs, comma-separated: ours (gating on), off (gating off), baseline, "
                         "threads2 (gating on, two ONNX Runtime threads per session: lets detection use the "
                         "second core) (default the first three; a long memory run may want only 'ours')")
    ap.add_argument("--sample-every", type=float, default=2.0, help="seconds between memory samples (default 2)")
    a = ap.parse_args()
    runs = {r.strip() for r in a.runs.split(",") if r.strip()}
    if not runs or runs - {"ours", "off", "baseline", "threads2"}:
        print(f"--runs: expected a comma-separated choice of ours, off, baseline, threads2; got {a.runs!r}",
              file=sys.stderr)
        return 2
    if not PACK.is_dir():
        print(f"test pack not found at {PACK}", file=sys.stderr)
        return 2
    minute_table = a.duration >= 120
    empty = {"fps": None, "min_cam_fps": None, "embeddings": None, "emb_per_frame": None, "p50": None,
             "p95": None, "inf_cpu_ms": None, "cpu": None, "peak_mb": None}
    ours, off, base = dict(empty), dict(empty), dict(empty)
    with tempfile.TemporaryDirectory(prefix="spg_bench_") as tmp:
        data, videos = make_world(Path(tmp), a.cameras)
        cfg = config(data, videos, a.fps)
        la = load_avg()
        print(f"{a.cameras} file cameras (1280x720, 15 fps files) at {a.fps:g} fps, {a.duration:g} s each run, "
              f"{os.cpu_count()} CPU cores, load average before {'n/a' if la is None else f'{la:.1f}'}, "
              "test pack (SCRFD-500M + MobileFaceNet)", flush=True)
        if "ours" in runs:
            ours = run_ours(cfg, data, a.duration, a.warmup, a.sample_every)
            print_run("ours (gating on)", ours, minute_table)
        floor = bare_forward(cfg)
        print(f"detector bare forward at {floor['size']}: {floor}", flush=True)
        if "off" in runs:
            off = run_ours(config(data, videos, a.fps, gating=False), data, a.duration, a.warmup, a.sample_every)
            print_run("ours (gating off)", off, minute_table)
        if "threads2" in runs:
            t2 = run_ours(config(data, videos, a.fps, intra_op_threads=2), data, a.duration, a.warmup, a.sample_every)
            print_run("ours (gating on, engine.intra_op_threads: 2)", t2, minute_table)
        if "baseline" in runs:
            base = run_baseline(cfg, a.duration, a.warmup, a.sample_every)
            print_run("baseline", base, minute_table)
        la = load_avg()
        print(f"load average after {'n/a' if la is None else f'{la:.1f}'}", flush=True)
    rows = [("frames processed / s (all cameras)", "fps", "{:.1f}"),
            ("slowest camera, frames / s", "min_cam_fps", "{:.2f}"),
            ("embeddings computed", "embeddings", "{:d}"),
            ("embeddings per processed frame", "emb_per_frame", "{:.2f}"),
            ("capture-to-result latency p50 (ms)", "p50", "{:.0f}"),
            ("capture-to-result latency p95 (ms)", "p95", "{:.0f}"),
            ("inference CPU ms / processed frame", "inf_cpu_ms", "{:.1f}"),
            ("CPU seconds (all processes)", "cpu", "{:.1f}"),
            ("peak memory, all processes (MB)", "peak_mb", "{:.0f}")]
    print(f"\n{'':<40}{'ours':>12}{'gating off':>12}{'baseline':>12}{'base/ours':>11}")
    for label, key, fmt in rows:
        o, g, b = ours[key], off[key], base[key]
        cells = [fmt.format(v) if v is not None else "n/a" for v in (o, g, b)]
        ratio = f"{b / o:.2f}x" if (o and b) else "-"
        print(f"{label:<40}{cells[0]:>12}{cells[1]:>12}{cells[2]:>12}{ratio:>11}")
    print(f"{'detector bare forward ' + floor['size'] + ', CPU ms':<40}{floor['cpu_ms']:>12.1f}"
          f"{'(wall ' + format(floor['wall_ms'], '.1f') + ')':>12}")
    goals = []
    if "ours" in runs:
        kept = ours["min_cam_fps"] >= 0.98 * a.fps
        goals.append(f"every camera >= {0.98 * a.fps:.2f} fps: {'met' if kept else 'NOT met'} "
                     f"(slowest {ours['min_cam_fps']:.2f})")
        goals.append(f"p95 < 300 ms: {'met' if ours['p95'] < 300 else 'NOT met'} ({ours['p95']:.0f} ms)")
        vs_floor = (ours["inf_cpu_ms"] / floor["cpu_ms"]) if ours["inf_cpu_ms"] and floor["cpu_ms"] else None
        goals.append("inference CPU per frame within 1.5x of the detector floor: "
                     + ("n/a" if vs_floor is None else f"{'met' if vs_floor <= 1.5 else 'NOT met'} ({vs_floor:.2f}x)"))
        verdicts = {role: ours["mem"].flat(role)[0] for role in ours["mem"].series}
        if a.duration >= 180:
            grew = sorted(r for r, v in verdicts.items() if v != "flat")
            goals.append("memory of every process flat (last minute within 5 % of the second): "
                         + ("met" if not grew else f"NOT met ({', '.join(grew)})"))
    if "ours" in runs and "baseline" in runs:
        fewer = base["embeddings"] / max(1, ours["embeddings"])
        per_frame = base["emb_per_frame"] / ours["emb_per_frame"] if ours["emb_per_frame"] else float("inf")
        goals.append(f">= 3x fewer embeddings than the baseline: {'met' if fewer >= 3 else 'NOT met'} "
                     f"({fewer:.1f}x in total, {per_frame:.1f}x per processed frame)")
    print("\ngoals: " + "; ".join(goals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
