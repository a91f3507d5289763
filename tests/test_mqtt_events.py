"""MQTT events (``mqtt.*``) against a real Mosquitto broker started here on 127.0.0.1: what a Home Assistant or
Node-RED user subscribing to ``<prefix>/<outlet>/#`` gets from a real run on footage (retained presence for a
late subscriber, transition and alert events, the Last Will when the run is killed), and a broker that goes
away and comes back while the pipeline keeps working."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core.config import AppConfig, ConfigError, MqttConfig, load_config
from core.mqtt_events import MqttEvents, parse_broker
from core.presence import State, Transition
from tests.mqtt_broker import PASSWORD, USER, Broker, Received, Subscriber, broker, free_port, password_broker  # noqa: F401
from tests.test_attendance_real import PRESENCE, compose_footage, enroll_people

REPO = Path(__file__).resolve().parent.parent


def _of(msgs: list[Received], topic: str, *, retained: bool | None = None) -> list[Received]:
    return [m for m in msgs if m.topic == topic and (retained is None or m.retain == retained)]


def _events(msgs: list[Received], topic: str) -> list[dict]:
    return [m.json() for m in msgs if m.topic == topic]


@pytest.mark.slow
def test_headless_run_publishes_retained_presence_events_and_the_broker_says_offline_when_killed(
        tmp_path, faces_dir, test_pack, password_broker):  # noqa: F811
    data = tmp_path / "data"
    cfg_data = {"engine": {"kind": "insightface", "pack": str(test_pack)}, "camera": {"process_fps": 5.0},
                "presence": PRESENCE,
                "mqtt": {"enabled": True, "url": password_broker.url, "topic_prefix": "shop", "outlet_id": "mall-7",
                         "keepalive_s": 5},
                "cameras": [{"id": "counter", "source": str(compose_footage(faces_dir, tmp_path / "shop.mp4"))}]}
    enroll_people(AppConfig.model_validate(cfg_data), data, faces_dir)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_data))
    base = "shop/mall-7"
    auth = (USER, PASSWORD)
    early = Subscriber(password_broker, f"{base}/#", auth=auth)
    err_file = tmp_path / "stderr.txt"
    # the broker's user and password come from the environment (.env works the same), never from the YAML
    env = {**os.environ, "SPG_DATA_DIR": str(data), "SPG_MQTT_USERNAME": USER, "SPG_MQTT_PASSWORD": PASSWORD}
    with err_file.open("w") as err:
        run = subprocess.Popen([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                                "--duration", "240"], cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=err,
                               start_new_session=True)  # its own group: the kill below takes the whole tree
    late = gone = None
    try:
        first = early.wait_for(lambda ms: _of(ms, f"{base}/availability"), 120, "availability")
        assert first[0].payload == b"online"
        # George shows from second 6 to 14 of the footage: PRESENT, then ABSENT (on duty: an alert)
        transitions = f"{base}/event/transition"
        early.wait_for(lambda ms: any(e["spg_id"] == "gwb" and e["to"] == "present" for e in _events(ms, transitions)),
                       120, "George present")
        alert = early.wait_for(lambda ms: [e for e in _events(ms, f"{base}/event/alert") if e["spg_id"] == "gwb"],
                               90, "George's absence alert")[0]
        assert alert["kind"] == "absent" and alert["name"] == "George <W> Bush" and alert["camera_id"] == "counter"
        ev = [e for e in _events(early.snapshot(), transitions) if e["spg_id"] == "gwb"]
        assert [(e["from"], e["to"]) for e in ev][:1] == [("not_seen", "present")]
        assert any(e["to"] == "absent" and e["alert"] for e in ev)
        assert not any(m.retain for m in _of(early.snapshot(), transitions))  # events are not retained

        # a subscriber that comes late gets the current state of every SPG, the camera and the outlet at once
        late = Subscriber(password_broker, f"{base}/#", auth=auth)
        got = late.wait_for(lambda ms: {m.topic: m for m in ms if m.retain and m.topic.startswith(f"{base}/spg/")}
                            if len({m.topic for m in ms if m.retain and "/spg/" in m.topic}) == 2 else None,
                            20, "retained SPG states")
        assert set(got) == {f"{base}/spg/gwb/state", f"{base}/spg/cp/state"}
        gwb = got[f"{base}/spg/gwb/state"].json()
        assert gwb["name"] == "George <W> Bush" and gwb["state"] in ("present", "grace", "absent")
        assert gwb["present"] == (gwb["state"] != "absent")
        assert gwb in [m.json() for m in _of(early.snapshot(), f"{base}/spg/gwb/state")]  # what was published
        assert _of(late.snapshot(), f"{base}/availability", retained=True)[-1].payload == b"online"
        cam = late.wait_for(lambda ms: _of(ms, f"{base}/camera/counter/state", retained=True), 10, "camera state")
        assert cam[-1].json()["state"] == "live"

        # kill -9 of the whole run: no goodbye, so the broker publishes the Last Will
        killed_at = time.monotonic()
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)
        offline = early.wait_for(lambda ms: [m for m in _of(ms, f"{base}/availability") if m.payload == b"offline"],
                                 15, "Last Will")
        assert offline[0].at - killed_at < 10
        gone = Subscriber(password_broker, f"{base}/availability", auth=auth)
        kept = gone.wait_for(lambda ms: _of(ms, f"{base}/availability", retained=True), 10, "retained offline")
        assert kept[-1].payload == b"offline"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(10)
        for sub in (early, late, gone):
            if sub is not None:
                sub.close()
        from workers.frame_buffer import clean_stale_runs

        clean_stale_runs(data / "runs")  # what the next start on this folder would do: no /dev/shm leftovers
    log_text = err_file.read_text() + "".join(p.read_text(errors="replace") for p in (data / "logs").glob("*.log*"))
    assert "MQTT connected" in log_text
    assert PASSWORD not in log_text and "Br0ker" not in log_text


@pytest.mark.slow
def test_broker_stopped_and_restarted_mid_run_does_not_slow_the_pipeline_and_state_comes_back(
        tmp_path, faces_dir, test_pack, broker):  # noqa: F811
    from core.attendance import open_attendance
    from core.gallery import Gallery
    from core.metrics import Metrics
    from core.paths import DataLayout
    from workers.pipeline import Pipeline
    from workers.router import Router

    data = tmp_path / "data"
    cfg = AppConfig.model_validate({
        "engine": {"kind": "insightface", "pack": str(test_pack)}, "camera": {"process_fps": 5.0},
        "presence": PRESENCE, "mqtt": {"enabled": True, "url": broker.url, "keepalive_s": 5},
        "cameras": [{"id": "counter", "source": str(compose_footage(faces_dir, tmp_path / "shop.mp4"))}]})
    enroll_people(cfg, data, faces_dir)
    base = "spg/outlet_01"
    events = MqttEvents(cfg.mqtt, cfg.outlet.id)
    router = Router(Pipeline(cfg, data), open_attendance(cfg, data, Gallery(DataLayout(data).gallery).names), None,
                    events=events, metrics=Metrics())
    early = Subscriber(broker, f"{base}/#")
    steps: list[tuple[float, float, int]] = []  # (start, duration, results)

    def step() -> None:
        t0 = time.monotonic()
        b = router.step()
        steps.append((t0, time.monotonic() - t0, len(b.results)))

    def gwb_state() -> str:
        return next(p.state for p in router.presence() if p.spg_id == "gwb")

    router.start()
    late = None
    try:
        end = time.monotonic() + 150
        while time.monotonic() < end and not any(m.json().get("state") == "present"
                                                 for m in _of(early.snapshot(), f"{base}/spg/gwb/state")):
            step()
        assert events.connected and gwb_state() in ("present", "grace")
        before = gwb_state()
        up_from = steps[-1][0]
        broker.stop()
        down_from = time.monotonic()
        # keep the broker away until George's presence changed (he leaves the picture) and for at least 8 s
        while time.monotonic() < down_from + 90 and (time.monotonic() < down_from + 8 or gwb_state() == before):
            step()
        down_until = time.monotonic()
        assert not events.connected and gwb_state() != before
        broker.start()
        while time.monotonic() < down_until + 60 and not events.connected:
            step()
        assert events.connected, "no reconnect within a minute"
        # the restarted broker forgot every retained message: what a new subscriber gets was published again
        late = Subscriber(broker, f"{base}/#")
        now_state = gwb_state()
        got = late.wait_for(lambda ms: _of(ms, f"{base}/spg/gwb/state", retained=True), 20, "republished state")
        for _ in range(20):
            step()  # the pipeline goes on meanwhile
        assert got[-1].json()["state"] in (now_state, gwb_state())
        assert _of(late.snapshot(), f"{base}/availability", retained=True)[-1].payload == b"online"
        assert late.wait_for(lambda ms: _of(ms, f"{base}/spg/cp/state", retained=True), 5, "cp's state")
    finally:
        router.close()
        early.close()
        if late is not None:
            late.close()

    first_frame = next(t for t, _, n in steps if n)
    up_window = (max(first_frame, up_from - 10), up_from)  # frames flowing, broker up
    up = [s for s in steps if up_window[0] <= s[0] < up_window[1]]
    down = [s for s in steps if down_from <= s[0] < down_until]
    down_s = down_until - down_from
    frames_down = sum(n for _, _, n in down)
    up_rate = sum(n for _, _, n in up) / max(1e-3, up_window[1] - up_window[0])
    print(f"broker down {down_s:.1f} s: {frames_down} frames processed ({frames_down / down_s:.1f}/s; "
          f"{up_rate:.1f}/s before, broker up), longest router step {max(d for _, d, _ in down) * 1000:.0f} ms, "
          f"{len(down)} steps")
    # process_fps is 5: frames kept coming at the camera's pace while the broker was away, and no step waited
    assert frames_down >= 2.0 * down_s, (frames_down, down_s)
    assert max(d for _, d, _ in down) < 1.0, max(d for _, d, _ in down)
    assert sum(d for _, d, _ in down) / len(down) < 3 * max(0.06, sum(d for _, d, _ in up) / max(1, len(up)))
    assert events.dropped == 0  # the outage was short enough for the queue


def test_a_broker_that_is_not_there_never_blocks_and_a_full_queue_drops_and_counts():
    cfg = MqttConfig(enabled=True, url=f"mqtt://127.0.0.1:{free_port()}", queue_size=10)
    ev = MqttEvents(cfg, "outlet_01")
    ev.start()
    try:
        t0 = time.monotonic()
        for i in range(30):
            ev.transition(Transition(f"s{i}", State.NOT_SEEN, State.PRESENT, time.time(), camera_id="door"))
        assert time.monotonic() - t0 < 0.2
        assert ev.dropped == 20 and not ev.connected
    finally:
        t0 = time.monotonic()
        ev.close()
        assert time.monotonic() - t0 < 5


def test_broker_credentials_come_from_the_environment_and_are_masked(tmp_path, monkeypatch):
    from core.secrets import redact

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"mqtt": {"enabled": True}}))
    monkeypatch.setenv("SPG_MQTT_URL", "mqtt://ha:Pa55#word@broker.lan:1884")
    cfg = load_config(cfg_file)
    b = parse_broker(cfg.mqtt)
    assert (b.host, b.port, b.username, b.password) == ("broker.lan", 1884, "ha", "Pa55#word")
    assert "Pa55" not in redact(f"connecting to {cfg.mqtt.url} with Pa55#word")
    assert "Pa55" not in json.dumps(cfg.to_yaml_dict())
    monkeypatch.setenv("SPG_MQTT_PASSWORD", "0ther-s3cret")
    assert parse_broker(load_config(cfg_file).mqtt).password == "0ther-s3cret"
    cfg_file.write_text(yaml.safe_dump({"mqtt": {"password": "x"}}))
    with pytest.raises(ConfigError, match="SPG_MQTT_PASSWORD"):
        load_config(cfg_file)
    # a password typed into the YAML's URL is refused without being echoed (settings.yaml is a plain file)
    cfg_file.write_text(yaml.safe_dump({"mqtt": {"url": "mqtt://ha:Yaml-s3cret@broker.lan:1883"}}))
    with pytest.raises(ConfigError, match="must not hold a user or password") as bad:
        load_config(cfg_file)
    assert "Yaml-s3cret" not in str(bad.value) and "c.yaml" in str(bad.value)
    cfg_file.write_text(yaml.safe_dump({"mqtt": {"enabled": True}}))
    monkeypatch.setenv("SPG_MQTT_URL", "http://ha:Pa55#word@broker.lan")
    with pytest.raises(ConfigError, match="SPG_MQTT_URL.*mqtt://") as bad:
        load_config(cfg_file)
    assert "Pa55" not in str(bad.value)


def test_console_controller_serves_metrics_and_publishes_then_says_offline_on_close(qtbot, data_dir, broker):  # noqa: F811
    """The console drives the same router: its metrics and MQTT topics are those of the headless run, and closing
    it leaves a retained ``offline`` (a clean goodbye, not the Last Will)."""
    from tests.test_metrics import scrape, value
    from tests.ui_fakes import FakeAttendance, FakePipeline
    from ui.controller import PipelineController

    port = free_port()
    cfg = AppConfig.model_validate({"cameras": [{"id": "cam1", "source": "v0.mp4"}],
                                    "monitoring": {"metrics_port": port},
                                    "mqtt": {"enabled": True, "url": broker.url, "outlet_id": "console"}})
    ctl = PipelineController(cfg, data_dir, pipeline_factory=lambda c, d: FakePipeline(c, d, fps=20),
                             attendance_factory=lambda c, d, n: FakeAttendance(n), names=lambda: {"a": "Ayu"})
    sub = Subscriber(broker, "spg/console/#")
    ctl.start()
    try:
        state = sub.wait_for(lambda ms: [m for m in _of(ms, "spg/console/spg/a/state") if m.json()["present"]], 20,
                             "Ayu present")
        assert state[-1].json()["spg_id"] == "a" and state[-1].retain is False  # live, not a leftover
        qtbot.waitUntil(lambda: "spg_camera_frames_processed_total{camera=\"cam1\"}" in scrape(port), timeout=10000)
        assert value(scrape(port), "spg_camera_frames_processed_total", '{camera="cam1"}') > 0
        qtbot.waitUntil(lambda: value(scrape(port), "spg_mqtt_connected") == 1, timeout=5000)  # once a second
        assert value(scrape(port), "spg_present_spgs") == 1
    finally:
        assert ctl.shutdown(20)
    sub.wait_for(lambda ms: [m for m in _of(ms, "spg/console/availability") if m.payload == b"offline"], 10, "goodbye")
    with pytest.raises(OSError):
        scrape(port)  # the metrics server stopped with the run
    sub.close()


def test_a_possible_photo_or_screen_is_an_alert_event(broker):  # noqa: F811
    from core.attendance_api import FraudAlert

    ev = MqttEvents(MqttConfig(enabled=True, url=broker.url), "outlet_01")
    sub = Subscriber(broker, "spg/outlet_01/event/#")
    ev.start()
    try:
        ev.fraud(FraudAlert(1234.5, "ayu", "Ayu", "counter", "liveness", "<b>text</b>", 0.12))
        got = sub.wait_for(lambda ms: _events(ms, "spg/outlet_01/event/alert"), 10, "the alert event")
    finally:
        ev.close()
        sub.close()
    assert got[0] == {"kind": "possible_spoof", "spg_id": "ayu", "name": "Ayu", "timestamp": 1234.5,
                      "camera_id": "counter", "check": "liveness", "liveness": 0.12}
