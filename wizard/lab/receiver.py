"""A notification receiver on 127.0.0.1 for the lab: it records every POST (ntfy, webhook,
Healthchecks pings) so the demo and the tests can show what the server's alerts sent."""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Notification:
    path: str
    content_type: str
    body: str

    @property
    def json(self) -> dict | None:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class NotificationReceiver:
    """`with NotificationReceiver() as receiver:` — `receiver.url("/ntfy/backups")` is where a
    host on the lab (same loopback) can post; `receiver.received` what arrived, in order."""

    def __init__(self) -> None:
        self.received: list[Notification] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                note = Notification(self.path, self.headers.get("Content-Type", ""), body)
                with receiver._lock:
                    receiver.received.append(note)
                self.send_response(200)
                self.end_headers()

            do_PUT = do_POST  # noqa: N815

            def do_GET(self) -> None:  # noqa: N802
                self.do_POST()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def take(self) -> list[Notification]:
        """What arrived since the last call."""
        with self._lock:
            taken, self.received = self.received, []
        return taken

    def start(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NotificationReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
