"""Helpers shared by the pipeline tests: run the router loop until something is seen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from core.config import AppConfig
from workers.pipeline import EngineSpec, PollBatch

SHM_DIR = Path("/dev/shm")
STAND_IN = EngineSpec("tests.pipeline_fakes:make_engine")


def pump(pipeline, until: Callable[[PollBatch, list[PollBatch]], bool], timeout: float = 30.0) -> list[PollBatch]:
    """Poll until ``until(last_batch, all_batches)`` is true; fail with what was seen after ``timeout``."""
    seen: list[PollBatch] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        b = pipeline.poll(0.05)
        seen.append(b)
        if until(b, seen):
            return seen
    errors = [e for b in seen for e in b.errors]
    states = [(s.camera_id, s.state.value, s.reason) for b in seen for s in b.statuses][-5:]
    raise AssertionError(f"condition not met in {timeout:.0f} s; errors={errors} last states={states}")


def results_of(batches: list[PollBatch], camera_id: str | None = None) -> list:
    return [r for b in batches for r in b.results if camera_id is None or r.camera_id == camera_id]


def shm_segments(prefix: str = "sfb_") -> set[str]:
    return {p.name for p in SHM_DIR.glob(f"{prefix}*")} if SHM_DIR.is_dir() else set()


def config(cameras: list[dict], **sections) -> AppConfig:
    data = {"cameras": cameras, "engine": {"min_sharpness": 0}, "inference": {"hang_timeout_s": 20}}
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return AppConfig.model_validate(data)
