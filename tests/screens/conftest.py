"""Fixtures for the screens: platformdirs pointed at a temp dir, and fixed wizard states built
from hand-made facts (no network) for Pilot and snapshot tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from screens.state import ClientEntry, WizardState
from tests.planning import client_facts, fresh_fleet, plan_for, server_facts
from wizard.inventory.parse import parse_inventory
from wizard.inventory.settings import resolve_server
from wizard.pipeline.facts import UserInfo
from wizard.pipeline.status import StatusReport, guard_by_hand, parse_status
from wizard.pipeline.verify import Proof, VerifyReport
from wizard.remote.identity import RUNUSER, RunAs
from wizard.session import FleetSession, ServerUnavailable

FIXED_NOW = datetime(2025, 3, 14, 12, 0)
STATUS_NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No developer config, keyring, ssh config or known_hosts leaks into a screen test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("BORGKEEP_INVENTORY", raising=False)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        "Host nas\n  HostName nas.lan\n  User root\n\n"
        "Host host1\n  HostName host1.lan\n  User root\n\n"
        "Host host2\n  HostName host2.lan\n  User alice\n"
    )
    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(ssh_config))
    monkeypatch.setenv("BORGKEEP_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    return tmp_path


def fixed_state(tmp_path: Path) -> WizardState:
    """A complete state as after the Clients step: facts are hand-made, the plan is computed
    by the real planner from them."""
    inventory, settings, facts, passphrases = fresh_fleet()
    state = WizardState.from_inventory(tmp_path / "inventory.yaml", None)
    state.load(inventory)
    state.saved = None
    state.now = FIXED_NOW
    state.server_facts = server_facts(
        os="Debian GNU/Linux 12 (bookworm)", free_space={"/backups": 512 * 1024**3}
    )
    state.server_facts_for = state.server_ssh
    for client in state.clients:
        client.facts = facts[client.name]
        client.facts = type(client.facts)(
            **{**client.facts.__dict__, "os": "Debian GNU/Linux 12 (bookworm)"}
        )
    _, plan = plan_for(inventory, settings, facts, passphrases)
    state.plan = plan
    return state


def fixed_report() -> VerifyReport:
    return VerifyReport(
        proofs=[
            Proof("host1", "config validates (borgmatic 1.7.7)", True, "ok"),
            Proof("host1", "borg info through the client key", True, "repository reachable"),
            Proof("host1", "no shell for the client key", True, "refused"),
            Proof("nas", "prune --dry-run for host1", True, "1 archive considered"),
            Proof("host2", "borg info through the client key", False, "connection refused"),
        ]
    )


def new_client(name: str, ssh: str) -> ClientEntry:
    return ClientEntry(name, ssh, facts=client_facts(name))


@pytest.fixture(autouse=True)
def no_server_for_status(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """The welcome screen of a rerun asks the server for the fleet's health: outside the lab
    tests, the server is unreachable at once (a test that wants a report sets its own)."""
    if request.node.get_closest_marker("lab"):
        return

    def unreachable(self):
        raise ServerUnavailable(f"{self.server_name}: the screen tests do not connect anywhere")

    monkeypatch.setattr(FleetSession, "status", unreachable)


STATUS_INVENTORY = """\
version: 1
server: {name: nas, ssh: root@nas.lan, repo_root: /srv/backups}
retention: {keep_daily: 7, keep_weekly: 4}
clients:
  - {name: web1, ssh: root@web1.lan, source_directories: [/etc, /srv/www]}
  - {name: db1, ssh: root@db1.lan, source_directories: [/etc, /var/lib/postgresql]}
  - {name: laptop, ssh: alice@laptop.lan, source_directories: [/home/alice]}
  - {name: mail, ssh: root@mail.lan, source_directories: [/etc, /var/mail]}
"""
GIB = 1024**3


def fixed_status() -> StatusReport:
    """A fleet with one client of each kind, as the guard's `status --json` reports it at
    STATUS_NOW: web1 ok, db1 refused, laptop never backed up, mail stale."""
    guard = {
        "time": "2025-03-14T12:00:00+00:00",
        "server": {"name": "nas", "repo_root": "/srv/backups", "free": 412 * GIB,
                   "total": 1863 * GIB, "low_space": False},
        "clients": [
            {"name": "web1", "state": "ok", "archives": 41, "size": 18 * GIB,
             "newest_archive": {"name": "web1-2025-03-14T09:12:03",
                                "time": "2025-03-14T09:12:03+00:00"},
             "quota": {"used": 19 * GIB, "limit": 50 * GIB},
             "guard": {"last_run": "2025-03-14T07:30:01+00:00",
                       "last_result": {"status": "ok", "time": "2025-03-14T07:30:01+00:00"}},
             "problems": []},
            {"name": "db1", "state": "refused", "archives": 38, "size": 92 * GIB,
             "newest_archive": {"name": "db1-2025-03-14T02:40:00",
                                "time": "2025-03-14T02:40:00+00:00"},
             "quota": {"used": 95 * GIB, "limit": None},
             "guard": {"last_run": "2025-03-14T07:30:02+00:00",
                       "last_result": {"status": "refused", "time": "2025-03-14T07:30:02+00:00",
                                       "archives": ["db1-2025-03-12T02:40:00"]}},
             "problems": ["the guard refused at 2025-03-14T07:30:02+00:00: REFUSING to prune "
                          "/srv/backups/db1: 1 archive(s) deleted outside the server's prune "
                          "(db1-2025-03-12T02:40:00) (archives: db1-2025-03-12T02:40:00)"]},
            {"name": "laptop", "state": "never", "archives": 0, "size": 0,
             "quota": {"used": 1024**2}, "guard": {"last_run": "2025-03-14T07:30:03+00:00",
                                                   "last_result": None},
             "problems": ["never backed up: the repository has no archive yet"]},
            {"name": "mail", "state": "stale", "archives": 12, "size": 3 * GIB,
             "newest_archive": {"name": "mail-2025-03-10T04:05:00",
                                "time": "2025-03-10T04:05:00+00:00"},
             "quota": {"used": 3 * GIB, "limit": None},
             "guard": {"last_run": "2025-03-14T07:30:04+00:00",
                       "last_result": {"status": "ok", "time": "2025-03-14T07:30:04+00:00"}},
             "problems": ["stale: the newest archive, mail-2025-03-10T04:05:00, is from "
                          "2025-03-10T04:05:00+00:00 (104 h ago)"]},
        ],
    }  # fmt: skip
    inventory = parse_inventory(STATUS_INVENTORY)
    facts = server_facts(
        python_path="/usr/bin/python3", users={"borg": UserInfo("borg", 999, 999, "/home/borg")}
    )
    settings = resolve_server(inventory, "root", "nas.lan", 22)
    by_hand = guard_by_hand(facts, settings, RunAs("borg", "/home/borg", RUNUSER), "root@nas.lan")
    return parse_status(json.dumps(guard), inventory, by_hand)
