"""Loopback servers started by tests: an HTTP endpoint that records POSTs and a minimal SMTP receiver."""
from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class Recorder(HTTPServer):
    def __init__(self, status: int = 200, reply: dict | None = None) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.status, self.reply = status, reply or {"ok": True}
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, json.loads(body or b"{}")))  # type: ignore[attr-defined]
        payload = json.dumps(self.server.reply).encode()  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


class SmtpSink(socketserver.ThreadingTCPServer):
    """Speaks just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, QUIT) to receive a message."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        self.messages: list[str] = []
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say("220 loopback ESMTP")
        while True:
            line = self.rfile.readline().decode().strip()
            if not line:
                return
            cmd = line.split(" ")[0].upper()
            if cmd in ("EHLO", "HELO"):
                self._say("250 loopback")
            elif cmd in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._say("250 ok")
            elif cmd == "DATA":
                self._say("354 end with .")
                lines = []
                while (data := self.rfile.readline().decode()) not in (".\r\n", ".\n", ""):
                    lines.append(data)
                self.server.messages.append("".join(lines))  # type: ignore[attr-defined]
                self._say("250 queued")
            elif cmd == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")
