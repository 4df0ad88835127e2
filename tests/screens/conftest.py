"""Fixtures for the screens: platformdirs pointed at a temp dir, and fixed wizard states built
from hand-made facts (no network) for Pilot and snapshot tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from screens.state import ClientEntry, WizardState
from tests.planning import client_facts, fresh_fleet, plan_for, server_facts
from wizard.pipeline.verify import Proof, VerifyReport

FIXED_NOW = datetime(2025, 3, 14, 12, 0)


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
