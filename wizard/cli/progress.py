"""Progress on stderr while a command works: one line per event (`on_event`), and on a
terminal a ticking line that names what is still running and for how long, so the screen is
never silent for more than about a second. stdout stays for the command's result."""

from __future__ import annotations

import atexit
import shutil
import sys
import threading
import time
from typing import TextIO

from wizard.safe_text import safe_text

TICK_SECONDS = 1.0
ERASE = "\r\x1b[K"


class ProgressLines:
    """Writes each event as a line; with `ticking` (default: when the stream is a terminal)
    a thread rewrites one transient line after each second without output."""

    def __init__(self, stream: TextIO | None = None, ticking: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.ticking = self.stream.isatty() if ticking is None else ticking
        self.running: dict[str, tuple[str, float]] = {}
        self.quiet_since = time.monotonic()
        self.transient = False
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        if self.ticking:
            threading.Thread(target=self._tick_until_stopped, daemon=True).start()
            atexit.register(self.close)

    def event(self, host: str, level: str, message: str, line: str | None) -> None:
        """Record a host's step starting (`step`) or ending (any other level); write `line`
        unless it is None."""
        with self.lock:
            if level == "step":
                self.running[host] = (message, time.monotonic())
            else:
                self.running.pop(host, None)
            if line is None and (self.running or not self.transient):
                return
            self._erase()
            if line is not None:
                self.stream.write(f"{line}\n")
            self.stream.flush()
            self.quiet_since = time.monotonic()

    def tick(self, now: float | None = None) -> None:
        """After a second without output, say what has been running longest."""
        now = time.monotonic() if now is None else now
        with self.lock:
            if not self.running or now - self.quiet_since < TICK_SECONDS:
                return
            host, (message, since) = min(self.running.items(), key=lambda item: item[1][1])
            more = len(self.running) - 1
            text = f"  … {host}: {safe_text(message, keep_newlines=False)} ({now - since:.0f} s"
            text += f"; {more} more host(s) working)" if more else ")"
            width = max(20, shutil.get_terminal_size().columns - 1)
            self.stream.write(ERASE + (text if len(text) <= width else text[: width - 1] + "…"))
            self.stream.flush()
            self.transient = True
            self.quiet_since = now

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            self._erase()
            self.stream.flush()

    def _erase(self) -> None:
        if self.transient:
            self.stream.write(ERASE)
            self.transient = False

    def _tick_until_stopped(self) -> None:
        while not self.stopped.wait(TICK_SECONDS / 4):
            try:
                self.tick()
            except (OSError, ValueError):  # the stream closed as the program ends
                return
