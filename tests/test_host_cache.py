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


def test_the_file_is_parsed_once_per_version_and_again_when_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"version": 1, "hosts": {"a": {"x": 1}}}))
    cache = HostCache(path, 1)
    parses = []
    real_load = HostCache._load
    monkeypatch.setattr(HostCache, "_load", lambda self: parses.append(1) or real_load(self))
    assert [cache.hosts()["a"] for _ in range(50)] == [{"x": 1}] * 50
    assert len(parses) == 1
    other = tmp_path / "other.json"  # another process's write: a new file put in place
    other.write_text(json.dumps({"version": 1, "hosts": {"a": {"x": 2}}}))
    other.replace(path)
    assert cache.hosts()["a"] == {"x": 2} and len(parses) == 2
