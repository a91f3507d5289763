"""RTSP passwords and Telegram tokens never reach logs."""

import logging

from core.secrets import RedactingFilter, mask_url, redact


def test_mask_url_hides_password_keeps_host():
    assert mask_url("rtsp://admin:hunter2@10.1.2.3:554/ch1") == "rtsp://admin:***@10.1.2.3:554/ch1"
    assert mask_url("/videos/a.mp4") == "/videos/a.mp4"
    assert mask_url(0) == "0"


def test_redact_in_free_text():
    text = "open failed for rtsp://u:pa55@cam/x and https://api.example/bot123456789:AAHk3l4m5n6o7p8q9r0s1t2u3v4w5x6y7z8/sendMessage"
    out = redact(text)
    assert "pa55" not in out and "AAHk3l4m" not in out


def test_log_records_are_redacted(caplog):
    log = logging.getLogger("test.redact")
    log.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        log.info("camera %s down", "rtsp://admin:topsecret@1.2.3.4/s")
        try:
            raise RuntimeError("cannot open rtsp://admin:topsecret@1.2.3.4/s")
        except RuntimeError:
            log.exception("boom")
    assert "topsecret" not in caplog.text
