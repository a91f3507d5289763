"""Prometheus metrics (``monitoring.metrics_port``): scraped from a real headless run on footage, the way a
Prometheus server would, and the central-link hook that another part of the console sets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from core.attendance_api import AttendanceStatus
from core.config import AppConfig, MonitoringConfig
from core.metrics import METRIC_NAMES, Metrics
from tests.mqtt_broker import free_port
from tests.test_attendance_real import PRESENCE, compose_footage, enroll_people

REPO = Path(__file__).resolve().parent.parent


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        return resp.read().decode()


def samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric's samples (labels as written, '' for none)."""
    out = {}
    for m in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        out[m[1] or ""] = float(m[2])
    return out


def value(text: str, name: str, labels: str = "") -> float:
    got = samples(text, name)
    assert labels in got, f"{name}{labels} not served; has {sorted(got)}"
    return got[labels]


@pytest.mark.slow
def test_metrics_scraped_during_a_headless_run_move_between_two_scrapes(tmp_path, faces_dir, test_pack):
    data = tmp_path / "data"
    port = free_port()
    whole_day = {"start": "00:00:00", "end": "23:59:59"}
    shifts = {"gwb": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), whole_day)}  # cp has none
    cfg_data = {"engine": {"kind": "insightface", "pack": str(test_pack)}, "camera": {"process_fps": 5.0},
                "presence": {**PRESENCE, "shifts": shifts}, "monitoring": {"metrics_port": port},
                "cameras": [{"id": "counter", "source": str(compose_footage(faces_dir, tmp_path / "shop.mp4"))}]}
    enroll_people(AppConfig.model_validate(cfg_data), data, faces_dir)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_data))
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                             "--duration", "150"], cwd=str(REPO), env={**os.environ, "SPG_DATA_DIR": str(data)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = ""
        end = time.monotonic() + 120
        while time.monotonic() < end:
            assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
            try:
                first = scrape(port)
                if samples(first, "spg_camera_frames_processed_total").get('{camera="counter"}', 0) >= 5:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert value(first, "spg_camera_frames_processed_total", '{camera="counter"}') >= 5, first[-2000:]
        # the footage shows George from second 6 on: wait until presence counts him, then scrape again
        end = time.monotonic() + 90
        second = first
        while time.monotonic() < end and value(second, "spg_present_spgs") < 1:
            time.sleep(1.0)
            second = scrape(port)
        time.sleep(3.0)
        second = scrape(port)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]

    for name in METRIC_NAMES:  # every documented metric is served (histogram as its _count)
        assert re.search(rf"^{name}(_count)?(\{{| )", second, re.M), f"{name} missing"
    assert "spg_central_link_up" not in second  # nothing provides the link in this run
    frames = '{camera="counter"}'
    f1, f2 = (value(t, "spg_camera_frames_processed_total", frames) for t in (first, second))
    assert f2 > f1 + 5, (f1, f2)
    assert value(second, "spg_camera_faces_detected_total", frames) > value(first, "spg_camera_faces_detected_total", frames)
    assert value(second, "spg_inference_embeddings_total") > 0
    # the latency histogram: one observation per processed frame, cumulative buckets ending at +Inf
    count = value(second, "spg_inference_latency_seconds_count")
    assert count >= f2 - 1 and count > value(first, "spg_inference_latency_seconds_count")
    buckets = samples(second, "spg_inference_latency_seconds_bucket")
    assert value(second, "spg_inference_latency_seconds_bucket", '{le="+Inf"}') == count
    ordered = [v for k, v in sorted(buckets.items(), key=lambda kv: float(kv[0][5:-2].replace("+Inf", "inf")))]
    assert ordered == sorted(ordered) and ordered[0] < count  # spread over the buckets, not all in one
    assert 0 < value(second, "spg_inference_latency_seconds_sum") / count < 10
    assert value(second, "spg_camera_up", frames) == 1
    assert 1 <= value(second, "spg_camera_processed_frames_per_second", frames) <= 6  # process_fps 5
    assert value(second, "spg_present_spgs") >= 1 and value(second, "spg_on_shift_spgs") == 1  # George's shift
    assert value(second, "spg_database_up") == 1
    assert value(second, "spg_alert_outbox_pending_alerts") == 0  # Telegram is off: nothing queued
    assert value(second, "spg_camera_dropped_frames_total", frames) >= 0


def test_central_link_health_is_exported_while_a_central_database_is_configured():
    from prometheus_client import generate_latest

    from core.central.link_state import LinkState

    m = Metrics(MonitoringConfig())
    assert b"spg_central_link" not in generate_latest(m.registry)  # nothing provides it
    m.set_central_link(LinkState(enabled=False))
    assert b"spg_central_link" not in generate_latest(m.registry)  # no central database configured
    m.set_central_link(LinkState(enabled=True, connected=True, waiting=0))
    text = generate_latest(m.registry).decode()
    assert value(text, "spg_central_link_up") == 1 and value(text, "spg_central_link_waiting_events") == 0
    m.set_central_link(LinkState(enabled=True, connected=False, offline_since=1.0, waiting=12))
    text = generate_latest(m.registry).decode()
    assert value(text, "spg_central_link_up") == 0 and value(text, "spg_central_link_waiting_events") == 12


def test_counters_survive_a_restarted_source_and_a_port_in_use_does_not_stop_the_run(caplog):
    from prometheus_client import generate_latest

    from core.messages import CameraMetrics, CameraState, CameraStatus

    m = Metrics(MonitoringConfig())
    for dropped in (3, 7, 2):  # the camera worker restarted after 7: it counts from 0 again
        m.on_statuses([CameraStatus("door", CameraState.LIVE, metrics=CameraMetrics(dropped=dropped))])
    m.on_attendance(AttendanceStatus(store_ok=False, alerts_pending=4, alert_failures=2))
    text = generate_latest(m.registry).decode()
    assert value(text, "spg_camera_dropped_frames_total", '{camera="door"}') == 9
    assert value(text, "spg_database_up") == 0 and value(text, "spg_alert_outbox_pending_alerts") == 4
    assert value(text, "spg_alert_delivery_failures_total") == 2
    m.forget_camera("door")
    assert 'camera="door"' not in generate_latest(m.registry).decode()

    port = free_port()
    first = Metrics(MonitoringConfig(metrics_port=port))
    first.start()
    try:
        second = Metrics(MonitoringConfig(metrics_port=port))
        second.start()  # logged, not raised
        assert second.port is None and "choose another monitoring.metrics_port" in caplog.text
        assert "spg_camera_up" in scrape(port)
    finally:
        first.close()
