"""The operator's per-host cache file: bounded, most recently changed hosts kept."""

from __future__ import annotations

import json

from wizard.pipeline import host_cache
from wizard.pipeline.host_cache import HostCache
from wizard.pipeline.tool_versions import VersionCache

IDENTITY = "file=/usr/bin/borg 1-2-3"


def test_the_least_recently_changed_hosts_are_forgotten_beyond_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(host_cache, "MAX_HOSTS", 3)
    cache = VersionCache(tmp_path / "versions.json")
    for host in ("a", "b", "c"):
        cache.put(f"key-{host}", "borg", IDENTITY, "1.2.4")
    cache.put("key-a", "borg", IDENTITY, "1.4.5")  # a changed: now the most recent
    cache.put("key-d", "borg", IDENTITY, "1.2.4")  # one too many: b goes

    data = json.loads((tmp_path / "versions.json").read_text())
    assert list(data["hosts"]) == ["key-c", "key-a", "key-d"]
    assert cache.get("key-b", "borg", IDENTITY) is None
    assert cache.get("key-a", "borg", IDENTITY) == "1.4.5"


def test_an_unchanged_entry_writes_nothing_and_a_change_writes_compact_json(tmp_path):
    path = tmp_path / "hosts.json"
    cache = HostCache(path, 1)
    path.write_text(json.dumps({"version": 1, "hosts": {"key": {"x": 1}}}, indent=4))
    by_hand = path.read_text()
    cache.update("key", lambda entry: False)
    assert path.read_text() == by_hand

    cache.update("key", lambda entry: entry.update(y=2) is None)
    assert path.read_text() == '{"version":1,"hosts":{"key":{"x":1,"y":2}}}'
