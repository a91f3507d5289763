"""A real Mosquitto broker on 127.0.0.1 for the MQTT tests (Debian's ``mosquitto`` package, as ``.ci/run`` installs
it), and a subscriber that records what arrives."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
USER, PASSWORD = "outlet", "s3cret-Br0ker/p@ss"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """``mosquitto -c <conf>`` on a fixed free port; stop() and start() again keep the port (no persistence: a
    restarted broker has forgotten every retained message)."""

    def __init__(self, folder: Path, *, password: bool = False):
        self.port = free_port()
        self.folder = folder
        conf = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr"]
        if password:
            pwfile = folder / "passwd"
            pwfile.touch(mode=0o600)
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(pwfile), USER, PASSWORD], check=True, capture_output=True)
            conf += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            conf.append("allow_anonymous true")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            conf.append("user root")  # as root it would switch to 'mosquitto', who cannot read our temp folder
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=self.log, stderr=self.log)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            assert self.proc.poll() is None, (self.folder / "mosquitto.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not open its port")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
            self.log.close()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, password=True)
    b.start()
    yield b
    b.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """Subscribes to ``<topic>`` and keeps every message (with its retain flag: retained ones are those a late
    subscriber is handed on subscribing)."""

    def __init__(self, broker: Broker, topic: str, *, auth: tuple[str, str] | None = None):
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.client = c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{time.monotonic_ns()}")
        if auth:
            c.username_pw_set(*auth)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, qos=1)
        c.on_message = self._on_message
        c.connect("127.0.0.1", broker.port, keepalive=10)
        c.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, what: Callable[[list[Received]], Any], timeout: float, why: str = "") -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = what(self.snapshot())
            if got:
                return got
            time.sleep(0.05)
        seen = [(m.topic, m.payload[:120], m.retain) for m in self.snapshot()][-15:]
        raise AssertionError(f"not received within {timeout:.0f} s: {why}; last messages: {seen}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
