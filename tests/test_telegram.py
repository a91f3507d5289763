"""Telegram client, alert templates and the persistent outbox against a local fake Bot API server."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from core.alert_outbox import AlertOutbox
from core.alert_templates import AlertTemplates, fmt_duration
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.telegram import TelegramClient, TelegramRejected, TelegramRetryable, send_test_message
from tests.fake_telegram import FakeTelegram

CHAT = "-100987654"


@pytest.fixture
def server():
    with FakeTelegram() as srv:
        yield srv


def client_for(srv, token=None):
    return TelegramClient(srv.api_base, SecretStr(token or srv.token), SecretStr(CHAT), timeout_s=5)


def test_send_message_and_photo_reach_the_bot_api(server):
    c = client_for(server)
    assert c.send_message("<b>hello</b>")["message_id"] == 1
    jpeg = b"\xff\xd8\xff\xe0fakejpeg"
    c.send_photo(jpeg, "caption &amp; more")
    m, p = server.received
    assert (m.method, m.chat_id, m.text, m.parse_mode) == ("sendMessage", CHAT, "<b>hello</b>", "HTML")
    assert (p.method, p.photo, p.text) == ("sendPhoto", jpeg, "caption &amp; more")


def test_errors_are_sorted_and_never_show_the_token(server, caplog):
    c = client_for(server)
    server.mode = "429"
    server.retry_after = 7
    with pytest.raises(TelegramRetryable) as e:
        c.send_message("x")
    assert e.value.retry_after == 7
    server.mode = "500"
    with pytest.raises(TelegramRetryable):
        c.send_message("x")
    server.mode = "401"
    with pytest.raises(TelegramRejected) as e:
        c.send_message("x")
    assert "SPG_TELEGRAM_TOKEN" in str(e.value) and server.token not in str(e.value)
    server.mode = "400"
    with pytest.raises(TelegramRejected) as e:
        c.send_message("x")
    assert "SPG_TELEGRAM_CHAT_ID" in str(e.value)
    server.mode = "down"
    with pytest.raises(TelegramRetryable) as e:
        c.send_message("x")
    assert server.token not in str(e.value)
    dead = TelegramClient("http://127.0.0.1:9", SecretStr(server.token), SecretStr(CHAT), timeout_s=2)
    with pytest.raises(TelegramRetryable) as e:
        dead.send_message("x")
    assert server.token not in str(e.value) and "not reachable" in str(e.value)


def test_templates_escape_values_in_both_languages():
    en = AlertTemplates("en").render("absent", name="<Rina & Co>", outlet="Toko <1>", last_seen="10:00:00",
                                     camera="cam_1", away="5m 00s")
    assert "&lt;Rina &amp; Co&gt;" in en and "<Rina" not in en and "ABSENT" in en and "cam_1" in en
    idn = AlertTemplates("id").render("absent", name="Rina", outlet="Toko", last_seen="10:00:00", camera="c", away="1m")
    assert "TIDAK ADA" in idn and "Terakhir terlihat" in idn
    assert fmt_duration(3725) == "1h 02m" and fmt_duration(125) == "2m 05s" and fmt_duration(42) == "42s"


def test_send_test_message_for_the_settings_dialog(server):
    cfg = AppConfig.model_validate({"outlet": {"name": "Toko A&B", "language": "id"},
                                    "telegram": {"enabled": True, "api_base": server.api_base}})
    ok, msg = send_test_message(cfg)
    assert not ok and "SPG_TELEGRAM_TOKEN" in msg  # not configured yet: a sentence, no crash
    cfg.telegram.token = SecretStr(server.token)
    cfg.telegram.chat_id = SecretStr(CHAT)
    ok, msg = send_test_message(cfg)
    assert ok, msg
    assert "Pesan uji" in server.received[-1].text and "Toko A&amp;B" in server.received[-1].text
    cfg.telegram.token = SecretStr("999999:WRONG-token-xxxxxxxxxxxxxxxxxxxxxx")
    ok, msg = send_test_message(cfg)
    assert not ok and "401" in msg and "WRONG-token" not in msg


def _outbox(server, tmp_path, clock, token=None):
    store = EventStore(tmp_path / "events.db")
    return AlertOutbox(client_for(server, token), store, clock, base_backoff_s=2, max_backoff_s=60, start=False), store


def test_telegram_down_then_up_alerts_delivered_once_in_order(server, tmp_path):
    clock = FakeClock()
    ob, store = _outbox(server, tmp_path, clock)
    for i in range(3):
        store.add_alert(clock.time(), f"spg{i}", "absent", f"alert {i}")
    server.mode = "down"
    assert ob.deliver_due() == 0
    assert ob.last_error and "not reachable" in ob.last_error
    assert server.requests == 1  # the head failed; the others wait behind it (order kept)
    clock.advance(1)
    assert ob.deliver_due() == 0 and server.requests == 1  # backoff not over yet: no request
    server.mode = "500"
    clock.advance(2)
    assert ob.deliver_due() == 0 and server.requests == 2
    server.mode = "ok"
    clock.advance(10)
    assert ob.deliver_due() == 3
    assert ob.deliver_due() == 0
    assert [r.text for r in server.received] == ["alert 0", "alert 1", "alert 2"]
    assert store.pending_alerts() == []
    store.close()


def test_429_honours_retry_after(server, tmp_path):
    clock = FakeClock()
    ob, store = _outbox(server, tmp_path, clock)
    store.add_alert(clock.time(), "a", "absent", "one")
    server.mode = "429"
    server.retry_after = 30
    ob.deliver_due()
    server.mode = "ok"
    clock.advance(29)
    assert ob.deliver_due() == 0 and server.received == []
    clock.advance(1)
    assert ob.deliver_due() == 1
    store.close()


def test_bad_token_is_reported_clearly_and_not_retried_forever(server, tmp_path, caplog):
    clock = FakeClock()
    ob, store = _outbox(server, tmp_path, clock, token="111111:WRONG-token-yyyyyyyyyyyyyyyyyyyyyyy")
    aid = store.add_alert(clock.time(), "a", "absent", "one")
    with caplog.at_level(logging.ERROR):
        ob.deliver_due()
    row = store.alert(aid)
    assert row.status == "failed" and "SPG_TELEGRAM_TOKEN" in row.last_error
    assert "WRONG-token" not in ob.last_error
    before = server.requests
    clock.advance(3600)
    ob.deliver_due()
    assert server.requests == before
    store.close()


def test_delivery_thread_sends_when_notified(server, tmp_path):
    store = EventStore(tmp_path / "events.db")
    ob = AlertOutbox(client_for(server), store, poll_s=0.2)
    try:
        store.add_alert(0.0, "a", "absent", "threaded")
        ob.notify()
        import time

        deadline = time.monotonic() + 10
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r.text for r in server.received] == ["threaded"]
    finally:
        ob.close()
        store.close()


def test_refused_photo_still_delivers_the_alert_as_text(server, tmp_path):
    clock = FakeClock()
    ob, store = _outbox(server, tmp_path, clock)
    store.add_alert(clock.time(), "a", "absent", "<b>Ana</b> is ABSENT", photo=b"\xff\xd8tiny")
    server.mode = "photo400"
    assert ob.deliver_due() == 1
    assert [(r.method, r.text) for r in server.received] == [("sendMessage", "<b>Ana</b> is ABSENT")]
    store.close()


def test_overlong_caption_goes_as_plain_text_not_broken_html(server):
    c = client_for(server)
    caption = "<b>" + "Rina &amp; " * 200 + "</b>"
    c.send_photo(b"\xff\xd8x", caption)
    got = server.received[-1]
    assert len(got.text) <= 1024 and "<b>" not in got.text and "Rina & " in got.text and got.parse_mode == ""


def test_dripping_server_is_cut_at_the_total_deadline_and_the_stall_is_logged(server, caplog):
    """One byte every 2 s never trips a per-read timeout: the request must end at its total deadline."""
    import time

    server.mode = "drip"
    server.drip_s = 2.0
    client = TelegramClient(server.api_base, SecretStr(server.token), SecretStr(CHAT), timeout_s=3)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(TelegramRetryable, match="did not answer within 3 s"):
        client.send_message("hello")
    assert time.monotonic() - t0 < 6.0  # about the 3 s deadline, not the ~200 s the answer takes to drip
    assert "stalled" in caplog.text and server.token not in caplog.text
    end = time.monotonic() + 5  # the cut connection is closed, not left dripping
    while server.dripping and time.monotonic() < end:
        time.sleep(0.1)
    assert server.dripping == 0


def test_outbox_after_a_drip_and_a_long_outage_probes_within_30_s_and_delivers_in_order(server, tmp_path):
    clock = FakeClock()
    store = EventStore(tmp_path / "events.db")
    client = TelegramClient(server.api_base, SecretStr(server.token), SecretStr(CHAT), timeout_s=2)
    ob = AlertOutbox(client, store, clock, start=False)  # the production backoff
    for i in range(3):
        store.add_alert(clock.time(), f"spg{i}", "absent", f"alert {i}")
    server.mode = "drip"
    server.drip_s = 1.0
    assert ob.deliver_due() == 0  # returns at the deadline instead of blocking delivery
    assert ob.last_error and "did not answer" in ob.last_error
    server.mode = "500"
    delays = []
    for _ in range(12):  # a long outage: the wait between tries stops growing at the cap
        clock.advance(store.pending_alerts()[0].next_attempt - clock.time())
        ob.deliver_due()
        delays.append(store.pending_alerts()[0].next_attempt - clock.time())
    assert max(delays) <= 30.0 and delays[-1] == 30.0
    server.mode = "ok"  # Telegram is back: the next probe is at most 30 s away
    clock.advance(30)
    assert ob.deliver_due() == 3
    assert [r.text for r in server.received] == ["alert 0", "alert 1", "alert 2"]
    assert store.pending_alerts() == []
    store.close()
