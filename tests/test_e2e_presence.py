"""END-TO-END: ``app.py run --headless`` on composed footage of real faces (InsightFace test pack) ->
presence transitions -> Telegram alerts received by a local Bot API server on 127.0.0.1 -> a report
whose numbers match the footage's timeline.

Timeline (video seconds; tests/test_attendance_real.py PEOPLE): George W Bush visible 6-14 and 26-32,
Colin Powell 8-20; absent_seconds 4, grace 1. The wall-clock origin of the video is taken from the first
processed frame that shows a face (George at 6.0 s). Tolerances, from how the pipeline samples: an
arrival is seen up to one processed frame late (sampling) plus one frame for the tracker's identity vote,
a departure up to one frame early, and the origin itself is up to one frame late; so each edge is
compared within two frame intervals and each presence duration within three, plus 0.1 s of scheduling
jitter on a loaded 2-core machine. (tests/test_attendance_real.py checks the same path frame-exactly.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from core.config import AppConfig
from core.events_db import EventStore
from core.reports import build_report
from tests.fake_telegram import FakeTelegram
from tests.test_attendance_real import NAMES, PEOPLE, PRESENCE, compose_footage, enroll_people

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PROCESS_FPS = 5.0
FRAME = 1.0 / PROCESS_FPS
JITTER = 0.1
TOL = 2 * FRAME + JITTER
DUR_TOL = 3 * FRAME + JITTER


@pytest.fixture(scope="module")
def headless_run(tmp_path_factory, faces_dir, test_pack):
    folder = tmp_path_factory.mktemp("e2e")
    data = folder / "data"
    video = compose_footage(faces_dir, folder / "footage.mp4")
    cfg_data = {
        "outlet": {"name": "Toko E2E", "timezone": "Asia/Jakarta", "language": "en"},
        "engine": {"kind": "insightface", "pack": str(test_pack)},
        "camera": {"process_fps": PROCESS_FPS},
        "cameras": [{"id": "cam_counter", "name": "Counter", "source": str(video), "loop": False}],
        "presence": PRESENCE,
        "telegram": {"enabled": True, "send_photo": True},
    }
    enroll_people(AppConfig.model_validate(cfg_data), data, faces_dir)
    results = folder / "results.jsonl"
    with FakeTelegram() as srv:
        cfg_data["telegram"]["api_base"] = srv.api_base
        cfg_file = folder / "e2e.yaml"
        cfg_file.write_text(yaml.safe_dump(cfg_data))
        env = {**os.environ, "SPG_DATA_DIR": str(data), "SPG_TELEGRAM_TOKEN": srv.token,
               "SPG_TELEGRAM_CHAT_ID": "-1001234"}
        proc = subprocess.run([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                               "--duration", "55", "--results", str(results)],
                              capture_output=True, text=True, timeout=300, env=env, cwd=str(REPO))
        received = list(srv.received)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [json.loads(x) for x in results.read_text().splitlines() if x.strip()]
    return folder, cfg_file, data, lines, received, proc.stderr


def _origin(lines) -> float:
    first_face = min(x["timestamp"] for x in lines if x["type"] == "frame" and x["faces"])
    return first_face - PEOPLE["gwb"][3][0][0]


def test_headless_run_transitions_alerts_and_report_match_the_timeline(headless_run):
    folder, cfg_file, data, lines, received, stderr = headless_run
    origin = _origin(lines)
    trans = [x for x in lines if x["type"] == "transition"]
    absent_s = PRESENCE["absent_seconds"]
    errors: list[float] = []
    for spg, (_, _, _, spans, _) in PEOPLE.items():
        mine = [(x["to"], x["timestamp"] - origin, x["alert"]) for x in trans
                if x["spg_id"] == spg and (x["to"] == "absent" or (x["to"] == "present" and x["from"] != "grace"))]
        assert [m[0] for m in mine] == ["present", "absent"] * len(spans), (spg, mine, stderr[-2000:])
        for k, (a, b) in enumerate(spans):
            arrive, gone = mine[2 * k][1], mine[2 * k + 1][1]
            assert arrive == pytest.approx(a, abs=TOL), (spg, k, mine)
            assert gone == pytest.approx(b + absent_s, abs=TOL), (spg, k, mine)  # last seen ~b, + absent_seconds
            assert mine[2 * k + 1][2] is True  # one alert per absence
            errors += [arrive - a, gone - (b + absent_s)]
    print(f"\ne2e transition edge errors vs timeline (s): {[round(e, 3) for e in errors]} "
          f"(frame interval {FRAME:.2f} s)")
    # Telegram: exactly one message per absence, in order, each with the face photo; nothing twice.
    assert [("George" in m.text, "Colin" in m.text) for m in received] == [(True, False), (False, True), (True, False)]
    assert all(m.method == "sendPhoto" and m.photo and m.photo[:2] == b"\xff\xd8" for m in received)
    assert all(m.chat_id == "-1001234" and "Toko E2E" in m.text and "cam_counter" in m.text for m in received)
    assert "George &lt;W&gt; Bush" in received[0].text
    # The events database agrees: three alerts, all delivered.
    store = EventStore(data / "events.db")
    alerts = store.alerts_between(0, 1e12)
    assert [a.status for a in alerts] == ["sent"] * 3
    # The report: time present and the absence match the footage.
    cfg = AppConfig.model_validate(yaml.safe_load(cfg_file.read_text()))
    day = datetime.fromtimestamp(origin, tz=__import__("zoneinfo").ZoneInfo("Asia/Jakarta")).date()
    end_of_footage = origin + 36.0  # the report as if taken when the footage ended
    rows = {r.spg_id: r for r in build_report(store, cfg, day, day, None, NAMES, now=end_of_footage)}
    store.close()
    for spg, (_, _, _, spans, _) in PEOPLE.items():
        r = rows[spg]
        assert r.present_s == pytest.approx(sum(b - a for a, b in spans), abs=DUR_TOL * len(spans)), (spg, r)
        assert r.first_seen - origin == pytest.approx(spans[0][0], abs=TOL)
        assert r.last_seen - origin == pytest.approx(spans[-1][1], abs=TOL)
        assert r.absences == len(spans) and r.alerts_sent == len(spans)
    gwb = rows["gwb"]
    (a1, b1), (a2, _) = PEOPLE["gwb"][3]
    assert gwb.absent_longest_s == pytest.approx(a2 - b1, abs=DUR_TOL)
    assert gwb.absent_total_s == pytest.approx((a2 - b1) + (36.0 - PEOPLE["gwb"][3][1][1]), abs=2 * DUR_TOL)


def test_report_cli_on_the_headless_run(headless_run, tmp_path):
    folder, cfg_file, data, lines, _, _ = headless_run
    from zoneinfo import ZoneInfo

    day = datetime.fromtimestamp(_origin(lines), ZoneInfo("Asia/Jakarta")).date().isoformat()
    out = tmp_path / "e2e.xlsx"
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "report", "--config", str(cfg_file), "--data-dir",
                           str(data), "--from", day, "--to", day, "--format", "xlsx", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from openpyxl import load_workbook

    ws = load_workbook(out).active
    names = sorted(ws.cell(row=i, column=3).value for i in range(2, ws.max_row + 1))
    assert names == ["Colin Powell", "George <W> Bush"]  # names from the gallery, plain text in Excel
