"""One JSON file in the operator's cache directory holding what was learned per host
(`{"version": N, "hosts": {HOST_KEY: ...}}`): what the tool-version and login caches share.
A missing, unreadable or other-version file is empty; an unwritable one is never an error
(it only means the work is done again next time)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

_lock = threading.Lock()
_parsed: dict[Path, tuple[tuple[int, int, int], dict]] = {}
MAX_HOSTS = 1000
"""Hosts one cache file remembers (a fleet's hosts, with room for host keys that changed)."""


def cache_file(name: str) -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("borgkeep")) / name


class HostCache:
    """The hosts of one cache file, read and rewritten whole under one lock."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version

    def hosts(self) -> dict:
        """Every host's entry, parsed once per version of the file (its inode, size and
        time): a fleet's lookups do not each read the whole file again. Read-only."""
        with _lock:
            try:
                info = os.stat(self.path)
            except OSError:
                return {}
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            known = _parsed.get(self.path)
            if known is None or known[0] != stamp:
                known = _parsed[self.path] = (stamp, self._load())
            return known[1]

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        hosts = data.get("hosts") if isinstance(data, dict) else None
        return hosts if data.get("version") == self.version and isinstance(hosts, dict) else {}

    def update(self, host_key: str, change: Callable[[dict], bool]) -> None:
        """Apply `change` to one host's entry; when it says it changed, the host becomes the
        most recent, the least recently changed ones beyond `MAX_HOSTS` are forgotten (host
        keys that changed or hosts long gone), and the file is written (atomically)."""
        with _lock:
            hosts = self._load()
            entry = hosts.pop(host_key, None)
            entry = entry if isinstance(entry, dict) else {}
            if not change(entry):
                return
            hosts[host_key] = entry
            for old in list(hosts)[: max(0, len(hosts) - MAX_HOSTS)]:
                del hosts[old]
            data = json.dumps({"version": self.version, "hosts": hosts}, separators=(",", ":"))
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(data, encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:
                pass
