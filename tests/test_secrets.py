"""RTSP passwords and Telegram tokens never reach logs."""

import logging
import re
from urllib.parse import quote, unquote

import pytest
import yaml

from core.config import ConfigError, load_config
from core.secrets import RedactingFilter, mask_url, redact, register_secret, url_password


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


# --- masking by parsing: passwords users really type ----------------------------------------------------------

# Each fragment of 4+ letters is distinctive, so finding any of them in an output means a leak.
NASTY_PASSWORDS = [
    "Wombat#Quokka",            # '#' ends the authority for urllib
    "Numbat?Dingo",             # '?' too
    "Falcon@Heron",             # '@' inside the password: the tail must not leak
    "Egret/Ibis",               # '/' inside the password: must not stay whole
    "Toucan:Macaw",             # ':' inside the password
    "Kolibrí☃Δelta",            # unicode
    "Jaguar%40Ocelot%2FMargay",  # percent-encoded as the user wrote it
]


def fragments(secret: str) -> set[str]:
    """The secret, its percent-encoded and decoded spellings, and each 4+ letter piece of them."""
    forms = {secret, quote(secret, safe=""), unquote(secret)}
    pieces = {p for f in forms for p in re.split(r"[^\w]+|_", f) if len(p) >= 4 and not p.isdigit()}
    return forms | pieces


def assert_no_leak(text: str, secret: str) -> None:
    leaked = sorted(f for f in fragments(secret) if f in text)
    assert not leaked, f"{leaked} leaked in {text!r}"


@pytest.mark.parametrize("pw", NASTY_PASSWORDS)
@pytest.mark.parametrize("host", ["10.1.2.3:554", "127.0.0.1:99999", "[fe80::1]:554", "cam.local"])
def test_mask_url_hides_nasty_passwords_and_keeps_the_host(pw, host):
    url = f"rtsp://admin:{pw}@{host}/Streaming/Channels/101?tcp#frag"
    masked = mask_url(url)  # never raises, not even for port 99999 (urllib's .port would)
    assert_no_leak(masked, pw)
    assert masked == f"rtsp://admin:***@{host}/Streaming/Channels/101?tcp#frag"
    assert url_password(url) == pw


@pytest.mark.parametrize("pw", NASTY_PASSWORDS)
def test_redact_hides_nasty_passwords_in_free_text(pw):
    for text in (f"camera c1: cannot open rtsp://admin:{pw}@10.0.0.9/live; retrying in 2.0 s",
                 f"source='rtsp://admin:{pw}@10.0.0.9/live' state=failed",
                 f"(rtsp://:{pw}@10.0.0.9)",
                 f"postgresql://spg:{pw}@db.local:5432/events failed",
                 f"host=db.local user=spg password={pw} dbname=events"):
        out = redact(text)
        assert_no_leak(out, pw)
    # what is not a secret stays readable
    assert "10.0.0.9/live; retrying in 2.0 s" in redact(f"cannot open rtsp://admin:{pw}@10.0.0.9/live; retrying in 2.0 s")


def test_redact_leaves_ordinary_text_and_paths_alone():
    for text in ("camera c1 live: /videos/a.mp4 (640x360)", "C:\\Users\\spg\\clip.mp4", "12:30 shift start", "0"):
        assert redact(text) == text and mask_url(text) == text


def test_telegram_tokens_are_masked_in_urls_and_alone():
    token = "7312345678:AAFakeTokenForTestsOnly_abcdefghijk"
    out = redact(f"POST https://api.telegram.org/bot{token}/sendMessage failed; token {token}")
    assert "AAFakeToken" not in out and "7312345678" not in out


def test_a_registered_secret_is_masked_in_every_spelling():
    register_secret("Capybara@Tapir/Okapi")
    out = redact("ffmpeg said Capybara@Tapir/Okapi and Capybara%40Tapir%2FOkapi")
    assert "Capybara" not in out and "Okapi" not in out


def test_duplicate_camera_ids_name_the_key_never_the_password(tmp_path):
    pw = "Falcon@Heron/Egret#Numbat?x"
    cfg = tmp_path / "cams.yaml"
    cam = {"id": "c1", "source": f"rtsp://admin:{pw}@127.0.0.1:554/x"}
    cfg.write_text(yaml.safe_dump({"cameras": [cam, dict(cam)]}), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    msg = str(e.value)
    assert f"{cfg}: cameras:" in msg and "'c1' is used twice" in msg
    assert_no_leak(msg, pw)
    assert "rtsp" not in msg  # no config object, no input value


def test_a_bad_value_next_to_a_secret_does_not_echo_the_secret(tmp_path):
    pw = "Wombat#Quokka"
    cfg = tmp_path / "cams.yaml"
    cfg.write_text(yaml.safe_dump({"cameras": [{"id": "c1", "source": f"rtsp://admin:{pw}@h/x", "enabled": "maybe"}],
                                   "telegram": {"api_base": f"https://u:{pw}@proxy.local"}, "outlet": {"id": 7}}),
                   encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    msg = str(e.value)
    assert "cameras.0.enabled" in msg and "outlet.id" in msg
    assert_no_leak(msg, pw)
