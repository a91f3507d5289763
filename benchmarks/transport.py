"""Frame transport between processes: SharedMemory handoff vs pickling frames through a multiprocessing queue.

    .venv/bin/python benchmarks/transport.py [--frames 300] [--width 1280 --height 720]

Both ways run side by side in one run with the same producer/consumer processes (spawn), pipelined (the
producer runs ahead up to a few frames, as a camera worker does):

* queue: the producer puts the (h, w, 3) uint8 frame itself on a ``multiprocessing.Queue`` (pickled, written
  through a pipe, unpickled by the consumer);
* shm, decoded in place: what the camera worker does (``cv2.VideoCapture.read(slot_view)`` decodes straight
  into the slot, so handing the frame over is claim slot + publish generation + a ~300-byte ``FrameMeta``);
  decoding itself costs the same in both designs and is left out of both;
* shm, copied in: the producer copies an existing frame into the slot (a camera that must downscale, or a
  frame that arrived elsewhere), then sends the ``FrameMeta``;

and the consumer checks the slot generation and uses the pixels in place, or copies them out (what the
inference server does, so it never works on a slot that may be rewritten).

Prints the per-frame cost of each (wall time / frames) and the ratio queue / shm. Goal: >= 20x.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from core.messages import FrameMeta  # noqa: E402
from workers.frame_buffer import FrameBuffer, buffer_name, run_token  # noqa: E402
from workers.mp import mp_context  # noqa: E402

SLOTS = 6


def producer(mode: str, name: str, q, n: int, h: int, w: int, ready) -> None:
    frames = [np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8) for i in range(4)]
    buf = FrameBuffer.attach(name, h, w, SLOTS) if mode != "queue" else None
    ready.wait()
    for i in range(n):
        f = frames[i % 4]
        if buf is None:
            q.put(f)
        else:
            if mode.startswith("shm_inplace"):  # the decoder already wrote the pixels into the slot
                slot, view = buf.begin_write(h, w)
                view[0, 0, 0] = i % 251
                gen = buf.commit(slot)
            else:
                slot, gen = buf.write(f)
            q.put(FrameMeta("cam", i, time.time(), time.monotonic(), slot, (h, w, 3), 1.0, gen, buffer=name))
    q.put(None)
    if buf is not None:
        buf.close()


def run(mode: str, n: int, h: int, w: int) -> tuple[float, float]:
    ctx = mp_context()
    q = ctx.Queue(maxsize=SLOTS - 2)  # never more than SLOTS-2 frames ahead: the writer cannot lap the reader
    ready = ctx.Event()
    name = buffer_name("bench", run_token())
    buf = FrameBuffer.create(name, h, w, SLOTS) if mode != "queue" else None
    p = ctx.Process(target=producer, args=(mode, name, q, n, h, w, ready))
    p.start()
    out = np.empty((h, w, 3), np.uint8)
    checksum = 0
    time.sleep(1.0)  # let the child import and build its frames
    ready.set()
    t0 = time.perf_counter()
    got = 0
    while True:
        msg = q.get()
        if msg is None:
            break
        if mode == "queue":
            checksum += int(msg[0, 0, 0])
        else:
            if mode.endswith("_copy"):
                frame = buf.read(msg.slot, msg.generation, out=out)
            else:  # zero-copy view, generation checked before and after use
                frame = buf._data[msg.slot, : h * w * 3].reshape(h, w, 3)
                if buf.generation(msg.slot) != msg.generation:
                    frame = None
            if frame is None:
                raise RuntimeError("torn read in the benchmark: the writer lapped the reader")
            checksum += int(frame[0, 0, 0])
        got += 1
    dt = time.perf_counter() - t0
    p.join()
    if buf is not None:
        buf.close()
    return dt / got * 1000.0, float(checksum)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    a = ap.parse_args()
    mb = a.width * a.height * 3 / 1e6
    print(f"{a.frames} frames of {a.width}x{a.height}x3 ({mb:.1f} MB each), producer and consumer in 2 processes")
    res = {}
    labels = {"queue": "pickled through mp.Queue",
              "shm_inplace_view": "shm decoded in place, view", "shm_inplace_copy": "shm decoded in place, copy out",
              "shm_view": "shm copied in, view", "shm_copy": "shm copied in, copy out"}
    for mode in labels:
        res[mode], _ = run(mode, a.frames, a.height, a.width)
    print(f"{'transport':<34}{'ms / frame':>12}{'frames/s':>11}{'vs queue':>10}")
    for mode, ms in res.items():
        print(f"{labels[mode]:<34}{ms:>12.3f}{1000 / ms:>11.0f}{res['queue'] / ms:>9.1f}x")
    ratio = res["queue"] / res["shm_inplace_view"]
    print(f"handoff ratio queue / SharedMemory (as the camera worker does it): {ratio:.1f}x "
          f"(goal >= 20x: {'met' if ratio >= 20 else 'NOT met'}); with the inference server's copy out: "
          f"{res['queue'] / res['shm_inplace_copy']:.1f}x; with a copy in and out: {res['queue'] / res['shm_copy']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
