"""A local stand-in for the Telegram Bot API on 127.0.0.1 (tests only).

Speaks ``/bot<token>/sendMessage`` (form fields) and ``/bot<token>/sendPhoto`` (multipart with a
``photo`` file part), answers like Telegram (``{"ok": true, "result": {"message_id": N}}``), records
every accepted message, and can be told to fail:

    server.mode = "ok" | "500" | "429" | "401" | "400" | "photo400" | "down" | "drip"
    server.retry_after = 3          # for 429
    server.drip_s = 2.0             # for drip

``down`` closes the connection without an answer (a network error for the client). ``drip`` sends a
valid answer one byte every ``drip_s`` seconds (a stalled proxy or link: no read ever times out). Can also run as a
script (``python tests/fake_telegram.py PORTFILE``) for subprocess tests: it writes its port to
PORTFILE and appends every accepted message as a JSON line to PORTFILE + ".jsonl".
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs


@dataclass
class Received:
    method: str
    token: str
    chat_id: str
    text: str
    parse_mode: str
    photo: bytes | None = None
    fields: dict = field(default_factory=dict)


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            files[name] = payload
        else:
            fields[name] = payload.decode("utf-8")
    return fields, files


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token-for-the-fake-server-abcdef", log_path: Path | None = None):
        self.token = token
        self.mode = "ok"
        self.retry_after = 2
        self.drip_s = 2.0
        self.dripping = 0
        """Connections in drip mode still being answered."""
        self.received: list[Received] = []
        self.requests = 0
        self.log_path = log_path
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                outer._handle(self)

            do_GET = do_POST  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _drip(self, h: BaseHTTPRequestHandler) -> None:
        data = json.dumps({"ok": True, "result": {"message_id": 0}}).encode()
        raw = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
               + str(len(data)).encode() + b"\r\n\r\n" + data)
        with self._lock:
            self.dripping += 1
        try:
            for i in range(len(raw)):
                h.wfile.write(raw[i:i + 1])
                h.wfile.flush()
                time.sleep(self.drip_s)
        except OSError:
            pass  # the client gave up
        finally:
            h.close_connection = True
            with self._lock:
                self.dripping -= 1

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests += 1
            mode = self.mode
        if mode == "drip":
            return self._drip(h)
        if mode == "down":
            h.close_connection = True
            h.connection.close()  # no answer at all: the client sees a connection error
            return
        parts = h.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._reply(h, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = parts[0][3:], parts[1]
        if mode == "500":
            return self._reply(h, 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
        if mode == "429":
            return self._reply(h, 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry later",
                                        "parameters": {"retry_after": self.retry_after}})
        if mode == "401" or token != self.token:
            return self._reply(h, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if mode == "400":
            return self._reply(h, 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        ctype = h.headers.get("Content-Type", "")
        files: dict[str, bytes] = {}
        if ctype.startswith("multipart/form-data"):
            fields, files = _parse_multipart(ctype, body)
        else:
            fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        if method == "getMe":
            return self._reply(h, 200, {"ok": True, "result": {"id": 1, "is_bot": True, "username": "fake_bot"}})
        if method not in ("sendMessage", "sendPhoto"):
            return self._reply(h, 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
        if method == "sendPhoto" and mode == "photo400":
            return self._reply(h, 400, {"ok": False, "error_code": 400, "description": "Bad Request: PHOTO_INVALID_DIMENSIONS"})
        if method == "sendPhoto" and "photo" not in files:
            return self._reply(h, 400, {"ok": False, "error_code": 400, "description": "Bad Request: there is no photo in the request"})
        text = fields.get("text") if method == "sendMessage" else fields.get("caption", "")
        rec = Received(method, token, fields.get("chat_id", ""), text or "", fields.get("parse_mode", ""),
                       files.get("photo"), fields)
        with self._lock:
            self.received.append(rec)
            n = len(self.received)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"method": method, "chat_id": rec.chat_id, "text": rec.text,
                                        "photo_bytes": len(rec.photo or b"")}) + "\n")
        self._reply(h, 200, {"ok": True, "result": {"message_id": n, "chat": {"id": rec.chat_id}}})


if __name__ == "__main__":
    portfile = Path(sys.argv[1])
    srv = FakeTelegram(log_path=Path(str(portfile) + ".jsonl"))
    srv.start()
    portfile.write_text(str(srv.port))
    threading.Event().wait()
