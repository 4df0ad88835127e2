"""A loopback TCP proxy that cuts its connections after a set number of bytes.

It stands between borgkeep and a lab host's sshd, so a test can drop the SSH connection
at a deterministic point of an apply (after N bytes in both directions together).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.limit: int | None = None
        self.total = 0
        self.cut = False
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def arm(self, limit: int | None) -> None:
        """Cut every connection once `limit` bytes have passed since now (None: never)."""
        with self._lock:
            self.limit, self.total, self.cut = limit, 0, False

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                allowed = len(data)
                if self.limit is not None:
                    allowed = max(0, min(len(data), self.limit - self.total))
                self.total += allowed
                cutting = self.limit is not None and self.total >= self.limit
            try:
                if allowed:
                    dst.sendall(data[:allowed])
            except OSError:
                break
            if cutting:
                with self._lock:
                    self.cut = True
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
