"""Shared test fixtures: paths to the real test data and model pack, isolated data dirs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.disk_faults import small_disk  # noqa: F401 - full-disk / read-only fixture for every test module

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED_DATA = REPO.parent / "shared" / "data"
TEST_PACK = SHARED_DATA / "models" / "test_pack"
OPENCV_PACK = SHARED_DATA / "models" / "opencv_pack"  # YuNet + SFace, the commercially usable pack
BUFFALO_S_PACK = SHARED_DATA / "models" / "buffalo_s_pack"  # what outlets run with buffalo_s
FACES = SHARED_DATA / "faces"


def pytest_configure(config):
    if not TEST_PACK.is_dir():
        raise pytest.UsageError(f"test data not found at {SHARED_DATA}; the tests read ../shared/data beside the repo")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own data dir; nothing touches the user's real app-data folder or .env."""
    data_dir = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("SPG_DATA_DIR", str(data_dir))
    monkeypatch.delenv("SPG_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("SPG_TELEGRAM_CHAT_ID", raising=False)
    yield data_dir


@pytest.fixture
def data_dir(_isolated_data_dir) -> Path:
    return _isolated_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_pack() -> Path:
    return TEST_PACK


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return FACES


@pytest.fixture(scope="session")
def opencv_pack() -> Path:
    return OPENCV_PACK


@pytest.fixture(scope="session")
def buffalo_s_pack() -> Path:
    return BUFFALO_S_PACK


REAL_PACKS = {"test_pack": TEST_PACK, "buffalo_s": BUFFALO_S_PACK, "opencv": OPENCV_PACK}
"""The real model packs the engine tests run on, by the name used in test ids."""


@pytest.fixture(scope="session")
def engine_for(tmp_path_factory):
    """engine_for("opencv" | "buffalo_s" | "test_pack" | "dlib"): one engine per session, built as the app
    builds it (``engine.kind: auto`` on the pack folder; dlib by kind)."""
    from core.config import EngineConfig
    from core.engine.factory import create_engine

    built: dict = {}

    def get(name: str):
        if name not in built:
            cfg = EngineConfig(kind="dlib") if name == "dlib" else EngineConfig(kind="auto", pack=str(REAL_PACKS[name]))
            built[name] = create_engine(cfg, tmp_path_factory.mktemp(f"engine_{name}"))
        return built[name]

    return get


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the session (tests/pg_server.py); each test makes its own database
    with ``fresh_central_db``."""
    from tests.pg_server import PgServer

    server = PgServer().init().start()
    server.wait_ready()
    yield server
    server.destroy()


@pytest.fixture
def fresh_central_db(pg_server, request):
    """An empty database on the session's server, migrated to the central schema; yields its admin URL."""
    import re

    import psycopg

    from core.central.schema import migrate

    name = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:50]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server.url(dbname=name)
    with psycopg.connect(url) as conn:
        migrate(conn)
    return url
