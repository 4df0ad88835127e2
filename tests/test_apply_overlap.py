"""The server's new pruning files are written while the clients run their own phase: they
depend on nothing a client does and nothing reads them before the server's crontab."""

from __future__ import annotations

import threading

from tests.planning import fresh_fleet, plan_for
from tests.recording import RecordingConnection, apply_ok, fleet_identities
from wizard.pipeline.apply import Executor
from wizard.pipeline.desired.items import PHASE_CLIENT_SETUP, PHASE_SERVER_PRUNE
from wizard.secrets_store import SecretStore


class WaitingClient(RecordingConnection):
    """A client whose `borg init` waits until the server received its passphrase file."""

    def __init__(self, host: str, written: threading.Event) -> None:
        super().__init__(host)
        self.written = written
        self.saw_it: bool | None = None

    def run(self, command, stdin=None, **kwargs):
        if " init --encryption " in command:
            self.saw_it = self.written.wait(timeout=10)
        return super().run(command, stdin, **kwargs)


class Server(RecordingConnection):
    def __init__(self, written: threading.Event) -> None:
        super().__init__("nas")
        self.written = written

    def run(self, command, stdin=None, **kwargs):
        result = super().run(command, stdin, **kwargs)
        if "host1.passphrase" in command:
            self.written.set()
        return result


def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("BORGKEEP_SECRETS", "file")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    inventory, settings, facts, passphrases = fresh_fleet()
    _, plan = plan_for(inventory, settings, facts, passphrases)
    return plan, passphrases, fleet_identities(facts, settings)


def test_the_servers_new_files_are_written_during_the_clients_phase(tmp_path, monkeypatch):
    plan, passphrases, identities = _setup(tmp_path, monkeypatch)
    written = threading.Event()
    connections = {
        "nas": Server(written),
        "host1": WaitingClient("host1", written),
        "host2": RecordingConnection("host2", "alice"),
    }
    result = apply_ok(plan, connections, passphrases, identities)
    assert connections["host1"].saw_it is True  # the init waited for it, and it came
    done = result.outcomes["nas"].done
    baseline = done.index("run init-guard")
    assert [t for t in done if t.endswith(".passphrase")]
    assert all(i < baseline for i, t in enumerate(done) if t.endswith((".passphrase", ".yaml")))
    assert done[-1].startswith("create crontab")  # still last: it is what reads them


def test_only_the_leading_creations_of_the_servers_last_phase_are_early(tmp_path, monkeypatch):
    plan, passphrases, identities = _setup(tmp_path, monkeypatch)
    executor = Executor(
        plan, {}, "nas", store=SecretStore(), passphrases=passphrases, identities=identities
    )
    early = executor._inert_server_files()
    server_last = [c for c in plan.changes if c.host == "nas" and c.phase == PHASE_SERVER_PRUNE]
    assert early and early == server_last[: len(early)]
    assert all(c.kind in ("file", "dir") and c.action == "create" for c in early)
    after = server_last[len(early)]
    assert after.kind != "file" or after.action != "create"
    assert not [c for c in plan.changes if c.phase == PHASE_CLIENT_SETUP and c.host == "nas"]

    first = next(c for c in plan.changes if c is early[0])
    first.action = "update"  # an update changes what is there: it waits for its phase
    assert executor._inert_server_files() == []
