"""Source directories and exclude patterns may hold spaces, quotes and shell syntax because
they only ever travel inside borgmatic's YAML: this applies a whole plan over recording
connections and proves that no remote command line carries them, only a file body on stdin."""

from __future__ import annotations

import yaml

from tests.planning import INVENTORY, fresh_fleet, plan_for
from tests.recording import RecordingConnection, apply_ok, fleet_identities

ODD_SOURCE = "/srv/my data/$(touch /tmp/pwned) `id` 'q' \"d\" #1: x; y"
ODD_EXCLUDE = "*.tmp; rm -rf / # $(id)"


def test_odd_source_directories_and_excludes_travel_only_on_stdin(tmp_path, monkeypatch):
    monkeypatch.setenv("BORGKEEP_SECRETS", "file")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    data = yaml.safe_load(INVENTORY)
    data["clients"][0]["source_directories"] = ["/etc", ODD_SOURCE]
    data["clients"][0]["exclude_patterns"] = [ODD_EXCLUDE]
    inventory, settings, facts, passphrases = fresh_fleet(yaml.safe_dump(data))
    _, plan = plan_for(inventory, settings, facts, passphrases)
    connections = {
        "nas": RecordingConnection("nas"),
        "host1": RecordingConnection("host1"),
        "host2": RecordingConnection("host2", "alice"),
    }
    apply_ok(plan, connections, passphrases, fleet_identities(facts, settings))
    commands = [c for conn in connections.values() for c in conn.commands]
    steps = sum(len(conn.stdins) for conn in connections.values())
    assert steps >= len(plan.changes)
    for needle in (ODD_SOURCE, ODD_EXCLUDE, "my data", "touch /tmp/pwned", "rm -rf /"):
        assert not [c for c in commands if needle in c], needle
    config = next(
        stdin.decode() for stdin in connections["host1"].stdins if b"source_directories" in stdin
    )
    parsed = yaml.safe_load(config)
    sources = parsed.get("source_directories") or parsed["location"]["source_directories"]
    excludes = parsed.get("exclude_patterns") or parsed["location"]["exclude_patterns"]
    assert sources == ["/etc", ODD_SOURCE] and excludes == [ODD_EXCLUDE]
