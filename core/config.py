"""The one typed configuration object of the console, and THE loader every entry point uses.

Load order (later wins), the same for the console, ``app.py run --headless``, ``app.py report``, the
enroll / identify / gallery / models commands and the self-test (:func:`load_config`):

1. ``configs/app.yaml`` (committed defaults), then ``configs/app.dev.yaml`` (git-ignored, per machine;
   skipped when ``--config`` is given);
2. ``<data folder>/settings.yaml`` (what the console's Settings dialog saved);
3. the file given with ``--config``;
4. command-line flags (``--pack``).

The data folder is resolved once, before any of that (:func:`resolve_data_dir`): ``--data-dir``, else
``SPG_DATA_DIR``, else ``data_dir`` of the config files, else the OS per-user folder.

Secrets (Telegram token and chat id; the central database URL may also be set in YAML) come from the environment: the process environment, over
``<data folder>/.env`` (saved from Settings), over the repository's ``.env``. They are never read from
YAML, so they cannot end up in a committed file. RTSP passwords live in camera URLs and are masked
everywhere they are shown (see :mod:`core.secrets`).

Every validation error names the file, the key and what is allowed, and never echoes a value that could
hold a secret: see :class:`ConfigError`.
"""

from __future__ import annotations

import os
from datetime import date as ddate, time as dtime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.paths import REPO_CONFIG_DIR
from core.secrets import redact, register_secret, url_password

ENV_DATA_DIR = "SPG_DATA_DIR"
ENV_TELEGRAM_TOKEN = "SPG_TELEGRAM_TOKEN"
ENV_TELEGRAM_CHAT_ID = "SPG_TELEGRAM_CHAT_ID"
ENV_MQTT_URL = "SPG_MQTT_URL"
ENV_MQTT_USERNAME = "SPG_MQTT_USERNAME"
ENV_MQTT_PASSWORD = "SPG_MQTT_PASSWORD"
ENV_CENTRAL_URL = "SPG_CENTRAL_URL"


class ConfigError(Exception):
    """A configuration file or value is wrong. The message says where and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OutletConfig(_Section):
    id: str = "outlet_01"
    name: str = "Outlet"
    timezone: str = "Asia/Jakarta"
    language: Literal["en", "id"] = "en"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}; use an IANA name such as 'Asia/Jakarta'") from None
        return v


class EngineConfig(_Section):
    kind: Literal["auto", "insightface", "opencv", "dlib"] = "auto"
    pack: str = "buffalo_l"
    """Model pack: a name under ``<data_dir>/models/`` (buffalo_l, buffalo_s, buffalo_sc, ...) or a folder path."""
    providers: list[str] = Field(default_factory=lambda: ["auto"])
    """ONNX Runtime execution providers in order of preference; ``auto`` = TensorRT, CUDA, DirectML, CPU."""
    det_size: int = Field(640, ge=160, le=1280)
    det_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    threshold: float | None = Field(None, ge=-1.0, le=1.0)
    """Recognition threshold override; ``null`` uses the value calibrated for the model."""
    margin: float | None = Field(None, ge=0.0, le=1.0)
    """Required similarity margin over the second-best person; ``null`` uses the model's value."""
    min_face_px: int = Field(32, ge=8)
    """Faces narrower than this are detected and drawn but not matched."""
    min_sharpness: float = Field(15.0, ge=0.0)
    """Variance of the Laplacian of the face crop below which a face is too blurred to match."""
    enroll_min_face_px: int = Field(60, ge=16)
    """Enrollment: faces narrower than this in a photo are refused as too small."""
    max_image_megapixels: float = Field(40.0, gt=0.0, le=170.0)
    """Photo files (enroll, identify) announcing more pixels than this are refused before decoding."""
    dlib_detector: Literal["hog", "cnn"] = "hog"
    """Offline engine's detector: hog (fast on CPU) or cnn (more accurate, slow without CUDA)."""
    dlib_upsample: int = Field(1, ge=0, le=3)
    """Offline engine: upsample the image this many times before detecting (finds smaller faces, slower)."""
    intra_op_threads: int = Field(1, ge=0, le=64)
    """ONNX Runtime threads inside one operator, per session (0 = one per core). On the 2-core outlet PC the
    camera workers and the console need the other core, so one is the default."""
    inter_op_threads: int = Field(1, ge=0, le=64)
    """ONNX Runtime threads running independent operators in parallel (0 = its default)."""
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    """ONNX Runtime graph optimisation level."""
    thread_spinning: bool = False
    """Let ONNX Runtime's idle threads spin waiting for work (faster hand-over, but burns a core that camera
    workers and the console could use)."""
    cpu_arena: bool = True
    """Reuse ONNX Runtime's CPU memory arena between runs instead of allocating per run."""


class CameraDefaults(_Section):
    process_fps: float = Field(5.0, gt=0.0, le=30.0)
    max_frame_width: int = Field(1280, ge=160, le=7680)
    max_frame_height: int = Field(720, ge=120, le=4320)
    shm_slots: int = Field(3, ge=2, le=16)
    open_timeout_s: float = Field(10.0, gt=0.0)
    read_timeout_s: float = Field(10.0, gt=0.0)
    reconnect_initial_s: float = Field(1.0, gt=0.0)
    reconnect_max_s: float = Field(30.0, gt=0.0)
    rtsp_transport: Literal["tcp", "udp"] = "tcp"


class CameraConfig(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    name: str = ""
    source: str | int
    """A video file path, a USB webcam index (0, 1, ...), an rtsp:// or http(s):// (MJPEG) URL."""
    enabled: bool = True
    loop: bool = True
    """Video files only: start again at the end, like a camera that never stops."""
    motion_gating: bool | None = None
    """Detect only where this camera's picture moved and around its tracked faces (``null`` = as
    ``inference.motion_gating`` says); ``false`` detects every whole frame (a camera that never stands still)."""

    @field_validator("source")
    @classmethod
    def _source_usable(cls, v: str | int) -> str | int:
        # Refused here, not in the worker: OpenCV crashes the process on some of these (a negative webcam
        # index segfaults it), and the supervisor would restart it forever. Messages never echo a URL.
        if isinstance(v, str) and not v.strip():
            raise ValueError("camera source is empty; give a file path, a webcam index or an rtsp:// URL")
        text = str(v).strip()
        if isinstance(v, bool) or (text.startswith("-") and text[1:].isdigit()):
            raise ValueError("a webcam index must be 0 or more (0 = the first USB camera)")
        if text.lower().startswith(("rtsp://", "rtsps://", "http://", "https://")):
            from urllib.parse import urlsplit

            text = _encode_userinfo(text)
            scheme, _, rest = text.partition("://")
            try:
                parts = urlsplit(f"{scheme}://{rest.rpartition('@')[2]}")
                port = parts.port
            except ValueError:
                port = 0
            if port == 0:
                raise ValueError("the camera URL's port must be a number from 1 to 65535 "
                                 "(rtsp://<user>:<password>@<camera-ip>:554/<path>)")
            if not parts.hostname:
                raise ValueError("the camera URL has no camera address (rtsp://<user>:<password>@<camera-ip>:554/<path>)")
            return text
        return v


def _encode_userinfo(url: str) -> str:
    """The URL with its user and password percent-encoded, as FFmpeg needs them.

    A password typed as it is (``p@ss/w#rd?``) would otherwise end the camera's address early; the user
    info runs to the LAST ``@`` (the rule ``core.secrets.mask_url`` masks by). ``:`` between user and
    password and an existing ``%XX`` escape are kept."""
    from urllib.parse import quote

    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, password = userinfo.partition(":")
    safe = "%!$&'()*+,;=~-._"
    return f"{scheme}{sep}{quote(user, safe=safe)}{colon}{quote(password, safe=safe)}@{host}"


class InferenceConfig(_Section):
    frame_skip: int = Field(0, ge=0, le=30)
    """Skip N frames between two processed frames of a camera (``2`` = process 1 of 3)."""
    max_batch: int = Field(16, ge=1, le=64)
    track_iou: float = Field(0.3, gt=0.0, lt=1.0)
    reverify_every: int = Field(5, ge=1)
    """A tracked face is re-embedded every N processed frames (not on every frame)."""
    vote_window: int = Field(5, ge=1)
    vote_min: int = Field(2, ge=1)
    """An identity is reported once at least this many of the last ``vote_window`` identifications agree."""
    input_queue_size: int = Field(64, ge=1)
    hang_timeout_s: float = Field(20.0, gt=0.0)
    """The supervisor restarts a child whose heartbeat is older than this (camera workers get their
    open + read timeouts on top, since a blocking open/read is not a hang)."""
    restart_backoff_max_s: float = Field(30.0, gt=0.0)
    """Restarts of a crashed child back off 0.5 s, 1 s, 2 s, ... up to this."""
    motion_gating: bool = True
    """Detect faces only where the picture moved and around tracked faces, with a whole-frame detection
    every ``full_frame_every_s`` (Frigate's motion-then-regions approach); ``false`` = every whole frame."""
    full_frame_every_s: float = Field(2.0, gt=0.0, le=60.0)
    """With motion gating, the whole frame is still detected at least this often, so a face that never moves
    is found; keep it well under ``presence.absent_seconds``."""
    motion_threshold: int = Field(25, ge=1, le=255)
    """Grey levels (0-255) a pixel of the small motion frame must change by to count as motion."""
    motion_min_area: float = Field(0.0005, ge=0.0, lt=1.0)
    """Moving blobs smaller than this share of the frame are ignored (noise, flicker)."""
    region_min_px: int = Field(192, ge=64, le=1280)
    """Smallest square region (frame pixels) detected around motion or a tracked face."""
    children_below_normal: bool = True
    """Camera workers and the inference server run one step below normal priority, so that the console's
    window gets a core first when every core is busy (``workers/process_priority.py``)."""


def _minutes_after(start: dtime, t: dtime) -> int:
    """Minutes from ``start`` to ``t`` on a 24 h dial (a time before ``start`` is the next day)."""
    return ((t.hour * 60 + t.minute) - (start.hour * 60 + start.minute)) % (24 * 60)


class BreakWindow(_Section):
    start: dtime
    end: dtime


class ShiftWindow(_Section):
    """One day's shift. An end not after the start runs past midnight (attributed to the day it starts)."""

    start: dtime
    end: dtime
    breaks: list[BreakWindow] = Field(default_factory=list)
    """Break windows inside the shift: absence in them raises no alert and is not counted."""
    late_tolerance_min: int = Field(0, ge=0, le=720)
    """Arriving up to this many minutes after the start is not late."""
    absent_if_late_min: int | None = Field(None, ge=0, le=1440)
    """Arriving more than this many minutes after the start counts as absent for the day (null = never)."""

    @model_validator(mode="after")
    def _breaks_inside(self) -> ShiftWindow:
        length = _minutes_after(self.start, self.end) or 24 * 60
        for b in self.breaks:
            b0, b1 = _minutes_after(self.start, b.start), _minutes_after(self.start, b.end)
            if not (0 <= b0 < b1 <= length):
                raise ValueError(f"break {b.start:%H:%M}-{b.end:%H:%M} is not inside the shift "
                                 f"{self.start:%H:%M}-{self.end:%H:%M}")
        return self


class OvertimeConfig(_Section):
    round_to_min: int = Field(15, ge=1, le=240)
    """Overtime (presence after the shift end) is rounded to a multiple of this many minutes."""
    rounding: Literal["down", "up", "nearest"] = "down"
    minimum_min: int = Field(0, ge=0, le=720)
    """Less overtime than this (before rounding) counts as none."""


CalendarKind = Literal["holiday", "off", "shift"]


class CalendarEntry(_Section):
    """A day that differs from the weekly pattern: a public holiday, a day off, or a one-day shift."""

    date: ddate
    kind: CalendarKind
    spg_id: str | None = None
    """Only this SPG; empty = everyone at the outlet."""
    outlet_id: str | None = None
    """Only at this outlet (``outlet.id``); empty = any outlet. A brand can import one file at every outlet."""
    name: str = ""
    """What the day is (shown in reports), e.g. "Idul Fitri"."""
    start: dtime | None = None
    end: dtime | None = None
    """kind ``shift`` only: that day's shift instead of the weekly one."""

    @model_validator(mode="after")
    def _shift_has_times(self) -> CalendarEntry:
        if self.kind == "shift" and (self.start is None or self.end is None):
            raise ValueError("a 'shift' day needs a start and an end time (HH:MM)")
        if self.kind != "shift" and (self.start is not None or self.end is not None):
            raise ValueError(f"start / end times are only for 'shift' days, not for '{self.kind}'")
        return self


class AttendanceConfig(_Section):
    overtime: OvertimeConfig = Field(default_factory=OvertimeConfig)
    calendar: list[CalendarEntry] = Field(default_factory=list)
    """Holidays, days off and one-day shifts (per outlet, per SPG); Settings can import them from a CSV."""


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class PresenceConfig(_Section):
    grace_seconds: float = Field(30.0, ge=0.0)
    absent_seconds: float = Field(300.0, gt=0.0)
    confirm_hits: int = Field(2, ge=1)
    """Hits needed within ``confirm_window_s`` before a hit counts (one false match marks nobody present)."""
    confirm_window_s: float = Field(5.0, gt=0.0)
    hit_log_interval_s: float = Field(5.0, ge=0.0)
    """At most one stored hit per SPG per camera per this many seconds."""
    notify_return: bool = False
    default_shift: dict[Weekday, ShiftWindow] = Field(default_factory=dict)
    """Weekly schedule for every SPG without their own; empty = always on duty."""
    shifts: dict[str, dict[Weekday, ShiftWindow]] = Field(default_factory=dict)
    """Per-SPG weekly schedules (spg_id -> schedule), overriding ``default_shift`` for that SPG."""

    @model_validator(mode="after")
    def _grace_below_absent(self) -> PresenceConfig:
        if self.grace_seconds >= self.absent_seconds:
            raise ValueError(
                f"grace_seconds ({self.grace_seconds}) must be smaller than absent_seconds ({self.absent_seconds})"
            )
        return self


class StorageConfig(_Section):
    hit_retention_days: int = Field(30, ge=1)
    unknown_retention_days: int = Field(7, ge=0)
    """Faces that matched nobody are kept this many days (0 = not kept), then deleted."""
    unknown_max: int = Field(200, ge=0)


class TelegramConfig(_Section):
    enabled: bool = False
    api_base: str = "https://api.telegram.org"
    timeout_s: float = Field(10.0, gt=0.0)
    send_photo: bool = True
    daily_summary_time: dtime | None = None
    # Secrets: filled from the environment / .env only.
    token: SecretStr | None = Field(None, exclude=True)
    chat_id: SecretStr | None = Field(None, exclude=True)


class MonitoringConfig(_Section):
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve Prometheus metrics at ``http://<metrics_host>:<port>/metrics``; ``null`` or 0 = off."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics server binds to: this PC only by default (``0.0.0.0`` = every network)."""


_TOPIC_LEVELS = r"^[A-Za-z0-9_\-.]+(/[A-Za-z0-9_\-.]+)*$"


class MqttConfig(_Section):
    enabled: bool = False
    url: str = "mqtt://127.0.0.1:1883"
    """Broker: ``mqtt://host:port`` (``mqtts://`` for TLS). User and password only in ``.env`` or the environment
    (``SPG_MQTT_USERNAME`` / ``SPG_MQTT_PASSWORD``, or the whole ``mqtt://user:pass@host:port`` as ``SPG_MQTT_URL``)."""
    topic_prefix: str = Field("spg", pattern=_TOPIC_LEVELS)
    outlet_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-.]{1,64}$")
    """The outlet's level in every topic; ``null`` = ``outlet.id``."""
    keepalive_s: int = Field(30, ge=5, le=3600)
    """The broker publishes the Last Will (offline) when it hears nothing for 1.5 x this long."""
    queue_size: int = Field(1000, ge=10, le=100000)
    """Messages waiting for the broker; when full, new ones are dropped and counted (never waited for)."""
    # Secrets: filled from the environment / .env only.
    username: SecretStr | None = Field(None, exclude=True)
    password: SecretStr | None = Field(None, exclude=True)

    @field_validator("url")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        scheme, sep, rest = v.strip().partition("://")
        if not sep or scheme.lower() not in ("mqtt", "mqtts"):
            raise ValueError("the broker URL must look like mqtt://<host>:1883 (or mqtts://<host>:8883 for TLS)")
        try:
            parts = urlsplit(f"{scheme}://{rest.rpartition('@')[2]}")
            port = parts.port
        except ValueError:
            port = 0
        if port == 0 or not parts.hostname:
            raise ValueError("the broker URL needs a host and a port from 1 to 65535 (mqtt://<host>:1883)")
        if "@" in rest:
            # settings.yaml is written back by the console: a password in it would sit in a plain file
            raise ValueError("the broker URL must not hold a user or password; put them in .env as "
                             f"{ENV_MQTT_USERNAME} / {ENV_MQTT_PASSWORD} (or the whole URL as {ENV_MQTT_URL})")
        return v.strip()


class CentralConfig(_Section):
    """The brand's central PostgreSQL (issue 13): this outlet replicates its events into it."""

    enabled: bool = False
    url: SecretStr | None = Field(None, exclude=True)
    """``postgresql://<outlet role>:<password>@host:5432/db?sslmode=require``, as ``app.py hq add-outlet``
    printed it. Best kept in ``SPG_CENTRAL_URL`` (environment or the data folder's ``.env``), which wins over
    YAML; never written back to ``settings.yaml`` (it holds a password)."""
    share_gallery: bool = False
    """Gallery sharing: publish the SPGs enrolled here (with their face samples) to HQ, pull those HQ assigned to
    this outlet, erase those HQ removed or took away (``core.central.gallery_sync``); off: face data stays here."""
    batch_size: int = Field(500, ge=1, le=10_000)
    """Events sent to the central database in one transaction."""
    flush_on_exit_s: float = Field(10.0, ge=0.0, le=300.0)
    """At shutdown, how long to keep sending what is waiting before giving up (it goes up at the next start)."""
    connect_timeout_s: float = Field(5.0, gt=0.0, le=120.0)
class LivenessConfig(_Section):
    enabled: bool = False
    """Passive liveness (MiniFASNet pair) on each new track of a recognised SPG and again while it lives."""
    models: str = "liveness"
    """Folder of the two MiniFASNet ONNX files: a path, or a name under ``<data_dir>/models/``."""
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    """A face whose summed "real" probability (0..1) is below this is judged a photo or a screen."""
    recheck_minutes: float = Field(3.0, gt=0.0)
    """A live track is judged again this often."""
    min_face_px: int = Field(80, ge=16)
    """Smaller faces are not judged (too few pixels for the 80x80 inputs to say anything)."""


class StillFaceConfig(_Section):
    enabled: bool = False
    """A recognised face whose landmarks do not move for ``seconds`` is flagged as a possible photo."""
    seconds: float = Field(60.0, gt=0.0)
    tolerance: float = Field(0.03, gt=0.0, lt=1.0)
    """Landmark movement (mean over the points) that is still sensor/detector noise, in face widths."""


class FraudConfig(_Section):
    """Presence fraud checks of this outlet; both off by default (the demo and test footage are photos)."""

    liveness: LivenessConfig = Field(default_factory=LivenessConfig)
    still_face: StillFaceConfig = Field(default_factory=StillFaceConfig)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class AppConfig(_Section):
    outlet: OutletConfig = Field(default_factory=OutletConfig)
    data_dir: Path | None = None
    """Where gallery, database, logs and model packs live; default: the OS per-user app-data folder."""
    engine: EngineConfig = Field(default_factory=EngineConfig)
    camera: CameraDefaults = Field(default_factory=CameraDefaults)
    cameras: list[CameraConfig] = Field(default_factory=list)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    presence: PresenceConfig = Field(default_factory=PresenceConfig)
    attendance: AttendanceConfig = Field(default_factory=AttendanceConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    central: CentralConfig = Field(default_factory=CentralConfig)
    fraud: FraudConfig = Field(default_factory=FraudConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    results_file: Path | None = None
    """Headless mode: where per-frame results are written as JSON lines (optional)."""

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        # a field validator, so the error is located at "cameras" (the file that set them gets the blame)
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice; every camera needs its own id")
            seen.add(cam.id)
        return cameras

    def resolved_data_dir(self) -> Path:
        """The data folder. :func:`load_config` stores the one it resolved in ``data_dir``; a config built
        another way (tests, the demo outlet) falls back to ``SPG_DATA_DIR``, then the OS folder."""
        from core.paths import default_data_dir

        if self.data_dir is not None:
            return Path(self.data_dir).expanduser()
        env = os.environ.get(ENV_DATA_DIR)
        if env:
            return Path(env).expanduser()
        return default_data_dir()

    def to_yaml_dict(self) -> dict[str, Any]:
        """The config as plain data for writing back to YAML (secrets excluded)."""
        return self.model_dump(mode="json", exclude_none=False)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found. Check the path, or copy configs/app.yaml as a start.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.__class__.__name__}). Is it a text YAML file?") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: broken YAML{where}: {problem}. Fix the file or restore it from app.yaml.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (outlet:, camera:, ...), not {type(data).__name__}.")
    return data


# Keys whose (string) value is shown back in a validation message: none of them can hold a secret.
# Any other value (a camera source, a URL, a path, a whole section) is never echoed, only its key is named.
_ECHO_STR_KEYS = frozenset({"timezone", "language", "kind", "level", "rtsp_transport", "dlib_detector", "id"})


def _echo(loc: tuple[Any, ...], value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        return f" (got {value!r})"
    if isinstance(value, str) and loc and loc[-1] in _ECHO_STR_KEYS and len(value) <= 64:
        return f" (got {redact(value)!r})"
    return ""


def _format_validation_error(path_label: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against configs/app.yaml"
        elif err["type"] == "literal_error":
            msg = f"not allowed; {err['msg'].replace('Input should be', 'allowed:')}"
        elif "input" in err and err["type"] not in ("missing",):
            msg = f"{msg}{_echo(loc, err['input'])}"
        # a validator's own message may quote what it got: masked like everything else shown
        lines.append(redact(f"{path_label}: {key}: {msg}"))
    return "\n".join(lines)


class EnvSettings(BaseSettings):
    """The ``SPG_*`` environment: the process environment, over the data folder's ``.env``, over the
    repository's ``.env`` (pydantic-settings reads them; nothing is written into ``os.environ``)."""

    model_config = SettingsConfigDict(env_prefix="SPG_", extra="ignore", env_file_encoding="utf-8")

    data_dir: Path | None = None
    telegram_token: SecretStr | None = None
    telegram_chat_id: SecretStr | None = None
    mqtt_url: SecretStr | None = None
    mqtt_username: SecretStr | None = None
    mqtt_password: SecretStr | None = None
    central_url: SecretStr | None = None
    """``SPG_CENTRAL_URL``: the central PostgreSQL URL, password included."""


def read_env(*env_files: Path | None) -> EnvSettings:
    """``SPG_*`` settings; a later file wins over an earlier one, the process environment over both."""
    files = tuple(str(p) for p in env_files if p is not None and Path(p).is_file())
    try:
        return EnvSettings(_env_file=files or None)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{' / '.join(files)}: cannot read the .env file ({exc.__class__.__name__}). "
                          f"Check its permissions, or delete it and save the Telegram settings again.") from None


def resolve_data_dir(
    data_dir_flag: Path | str | None = None,
    config_file: Path | str | None = None,
    *,
    base: Path | None = None,
    dev: Path | None = None,
    env_file: Path | None = None,
) -> Path:
    """THE data folder, resolved once, in this order: ``--data-dir``, ``SPG_DATA_DIR`` (environment or the
    repository's ``.env``), ``data_dir`` of the config files (``--config`` over ``app.dev.yaml`` over
    ``app.yaml``), the OS per-user app-data folder. (``settings.yaml`` lives inside the data folder, so it
    cannot choose it.)"""
    if data_dir_flag:
        return Path(data_dir_flag).expanduser()
    env = read_env(_repo_env(env_file))
    if env.data_dir:
        return Path(env.data_dir).expanduser()
    for _, layer in reversed(_file_layers(config_file, base, dev)):
        if layer.get("data_dir"):
            return Path(str(layer["data_dir"])).expanduser()
    from core.paths import default_data_dir

    return default_data_dir()


def _repo_env(env_file: Path | None) -> Path:
    return env_file or (REPO_CONFIG_DIR.parent / ".env")


def _file_layers(config_file: Path | str | None, base: Path | None, dev: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """``app.yaml``, then ``app.dev.yaml`` (only without ``--config``), then the ``--config`` file."""
    base = base or (REPO_CONFIG_DIR / "app.yaml")
    layers: list[tuple[str, dict[str, Any]]] = []
    if base.is_file():
        layers.append((str(base), _read_yaml(base)))
    if config_file is None:
        dev = dev or (REPO_CONFIG_DIR / "app.dev.yaml")
        if dev.is_file():
            layers.append((str(dev), _read_yaml(dev)))
    else:
        layers.append((str(config_file), _read_yaml(Path(config_file))))
    return layers


SETTINGS_FILE = "settings.yaml"
SECRETS_FILE = ".env"


def settings_file(data_dir: Path) -> Path:
    """What the console's Settings dialog saved (applied over app.yaml, under --config and flags)."""
    return Path(data_dir) / SETTINGS_FILE


def secrets_file(data_dir: Path) -> Path:
    """The Telegram token and chat id saved from the console's Settings."""
    return Path(data_dir) / SECRETS_FILE


def central_url(cfg: AppConfig) -> str | None:
    """The central database URL as :func:`load_config` resolved it (``SPG_CENTRAL_URL`` from the environment or
    a ``.env`` over ``central.url``); its password is already registered for masking."""
    return cfg.central.url.get_secret_value() if cfg.central.url is not None else None


def flag_overrides(pack: str | Path | None = None) -> dict[str, Any]:
    """The command-line flags that set config keys, as a config layer."""
    out: dict[str, Any] = {}
    if pack:
        out.setdefault("engine", {})["pack"] = str(Path(pack).expanduser())
    return out


def load_config(
    path: Path | str | None = None,
    *,
    data_dir: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    base: Path | None = None,
    dev: Path | None = None,
    env_file: Path | None = None,
    saved_settings: bool = True,
) -> AppConfig:
    """THE config loader of every entry point (console, headless run, report, CLI, self-test).

    Layers, later wins: ``configs/app.yaml`` (``base``) -> ``configs/app.dev.yaml`` (``dev``, only without
    ``path``) -> ``<data folder>/settings.yaml`` -> ``path`` (``--config``) -> ``overrides`` (the flags).
    Secrets (Telegram token / chat id) come from the environment: the process environment over
    ``<data folder>/.env`` over the repository's ``.env`` (``env_file``). The data folder is resolved once
    (:func:`resolve_data_dir`, ``data_dir`` = the ``--data-dir`` flag) and stored in ``cfg.data_dir``.
    ``saved_settings=False`` leaves ``settings.yaml`` out (the Settings dialog's "defaults").
    """
    files = _file_layers(path, base, dev)
    folder = resolve_data_dir(data_dir, path, base=base, dev=dev, env_file=env_file)
    layers = list(files[:-1] if path is not None else files)
    if saved_settings and settings_file(folder).is_file():
        saved = _read_yaml(settings_file(folder))
        # the data folder cannot move itself; older saves wrote it
        saved.pop("data_dir", None)
        layers.append((str(settings_file(folder)), saved))
    if path is not None:
        layers.append(files[-1])
    if overrides:
        layers.append(("command line", overrides))

    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = _deep_merge(merged, layer)
    # Secrets never come from YAML.
    for name, layer in layers:
        tg = layer.get("telegram")
        if isinstance(tg, dict) and ("token" in tg or "chat_id" in tg):
            raise ConfigError(
                f"{name}: telegram.token / telegram.chat_id must not be in YAML; "
                f"put {ENV_TELEGRAM_TOKEN} and {ENV_TELEGRAM_CHAT_ID} in .env instead."
            )
        mq = layer.get("mqtt")
        if isinstance(mq, dict) and ("username" in mq or "password" in mq):
            raise ConfigError(f"{name}: mqtt.username / mqtt.password must not be in YAML; "
                              f"put {ENV_MQTT_USERNAME} and {ENV_MQTT_PASSWORD} in .env instead.")
    label = " + ".join(name for name, _ in layers) or "defaults"
    try:
        cfg = AppConfig.model_validate(merged)
    except ValidationError as exc:
        # Name the most specific file that set a wrong key, falling back to the merged label.
        raise ConfigError(_format_validation_error(_blame(layers, exc) or label, exc)) from None

    cfg.data_dir = folder
    env = read_env(_repo_env(env_file), secrets_file(folder))
    if env.telegram_token is not None and env.telegram_token.get_secret_value():
        cfg.telegram.token = env.telegram_token
    if env.telegram_chat_id is not None and env.telegram_chat_id.get_secret_value():
        cfg.telegram.chat_id = env.telegram_chat_id
    _apply_mqtt_env(cfg, env)
    if env.central_url is not None and env.central_url.get_secret_value():
        cfg.central.url = env.central_url
    register_config_secrets(cfg)
    return cfg


def _apply_mqtt_env(cfg: AppConfig, env: EnvSettings) -> None:
    """The broker URL and its credentials from ``SPG_MQTT_*`` (over the YAML's ``mqtt.url``)."""
    from urllib.parse import unquote

    url = env.mqtt_url.get_secret_value().strip() if env.mqtt_url is not None else ""
    try:
        if url:
            register_secret(url_password(url))  # masked even in the error below
            # the credentials go to their secret fields, the URL keeps only the broker's address
            scheme, sep, rest = url.partition("://")
            userinfo, at, hostpart = rest.rpartition("@")
            cfg.mqtt.url = f"{scheme}{sep}{hostpart}"
            if at:
                user, colon, password = userinfo.partition(":")
                cfg.mqtt.username = SecretStr(unquote(user)) if user else None
                cfg.mqtt.password = SecretStr(unquote(password)) if colon else None
        for key in ("username", "password"):
            value: SecretStr | None = getattr(env, f"mqtt_{key}")
            if value is not None and value.get_secret_value():
                setattr(cfg.mqtt, key, value)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(f"{ENV_MQTT_URL} (environment / .env)", exc)) from None


def register_config_secrets(cfg: AppConfig) -> None:
    """Every secret of this config is redacted wherever it shows, even outside a URL."""
    for secret in (cfg.telegram.token, cfg.telegram.chat_id, cfg.mqtt.password):
        if secret is not None:
            register_secret(secret.get_secret_value())
    for cam in cfg.cameras:
        register_secret(url_password(cam.source))
    if cfg.central.url is not None:
        register_secret(url_password(cfg.central.url.get_secret_value()))


def _blame(layers: list[tuple[str, dict[str, Any]]], exc: ValidationError) -> str | None:
    """Which layer set the first offending key (the last layer that mentions it)."""
    loc = exc.errors()[0]["loc"] if exc.errors() else ()
    for name, data in reversed(layers):
        node: Any = data
        found = True
        for part in loc:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
            if in_dict or in_list:
                node = node[part]
            else:
                found = False
                break
        if found and loc:
            return name
    # A model-level error (e.g. grace >= absent): the last layer that touches the section.
    section = loc[0] if loc else None
    for name, data in reversed(layers):
        if section in data:
            return name
    return None


def save_config(cfg: AppConfig, path: Path) -> None:
    """Write the config atomically (temp file + rename). Secrets are never written."""
    from core.atomic import atomic_write_text

    data = cfg.to_yaml_dict()
    # the data folder is chosen before any file inside it is read, so settings.yaml cannot move it
    data.pop("data_dir", None)
    data["telegram"].pop("token", None)
    data["telegram"].pop("chat_id", None)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
