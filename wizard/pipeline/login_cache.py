"""Who each client's login was last time, in the operator's cache: the guess that lets a
client's two fact rounds run as one (see `wizard.pipeline.gather.gather_client_facts`).

Only the inputs of the next round's script are kept (login name, uid, home), never a
script: a wrong or tampered entry makes a different guess, which round 1 then shows to be
wrong, and the round runs again. Keyed by the host's SSH host key and the client's name.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from wizard.pipeline.facts import HostFacts

CACHE_FILE = "client-logins.json"
CACHE_VERSION = 1
_lock = threading.Lock()


def cache_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("borgkeep")) / CACHE_FILE


class LoginCache:
    """host key -> client name -> (login, uid, home)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_path()

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        hosts = data.get("hosts") if isinstance(data, dict) else None
        return hosts if data.get("version") == CACHE_VERSION and isinstance(hosts, dict) else {}

    def get(self, host_key: str | None, name: str) -> HostFacts | None:
        """The facts round 2's script depends on, as they were last time; None if unknown."""
        if not host_key:
            return None
        with _lock:
            entry = self._load().get(host_key, {}).get(name)
        if not (isinstance(entry, list) and len(entry) == 3):
            return None
        login, uid, home = entry
        if not (isinstance(login, str) and isinstance(uid, int) and isinstance(home, str)):
            return None
        return HostFacts(host=name, login_user=login, uid=uid, home=home)

    def put(self, host_key: str | None, name: str, facts: HostFacts) -> None:
        """Remember the login; an unwritable cache only means two rounds next time."""
        entry = [facts.login_user, facts.uid, facts.home]
        if not host_key:
            return
        with _lock:
            hosts = self._load()
            if hosts.get(host_key, {}).get(name) == entry:
                return
            hosts.setdefault(host_key, {})[name] = entry
            data = json.dumps({"version": CACHE_VERSION, "hosts": hosts}, indent=1)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(data, encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:
                pass
