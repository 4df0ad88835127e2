"""Who each client's login was last time, in the operator's cache: the guess that lets a
client's two fact rounds run as one (see `wizard.pipeline.gather.gather_client_facts`).

Only the inputs of the next round's script are kept (login name, uid, home), never a
script: a wrong or tampered entry makes a different guess, which round 1 then shows to be
wrong, and the round runs again. Keyed by the host's SSH host key and the client's name.
"""

from __future__ import annotations

from pathlib import Path

from wizard.pipeline.facts import HostFacts
from wizard.pipeline.host_cache import HostCache, cache_file

CACHE_FILE = "client-logins.json"
CACHE_VERSION = 1


class LoginCache:
    """host key -> client name -> (login, uid, home)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_file(CACHE_FILE)
        self._file = HostCache(self.path, CACHE_VERSION)

    def get(self, host_key: str | None, name: str) -> HostFacts | None:
        """The facts round 2's script depends on, as they were last time; None if unknown."""
        if not host_key:
            return None
        entry = self._file.hosts().get(host_key, {}).get(name)
        if not (isinstance(entry, list) and len(entry) == 3):
            return None
        login, uid, home = entry
        if not (isinstance(login, str) and isinstance(uid, int) and isinstance(home, str)):
            return None
        return HostFacts(host=name, login_user=login, uid=uid, home=home)

    def put(self, host_key: str | None, name: str, facts: HostFacts) -> None:
        """Remember the login; an unwritable cache only means two rounds next time."""
        if not host_key:
            return
        entry = [facts.login_user, facts.uid, facts.home]

        def remember(known: dict) -> bool:
            if known.get(name) == entry:
                return False
            known[name] = entry
            return True

        self._file.update(host_key, remember)
