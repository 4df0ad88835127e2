"""Verify says what it does as it goes (one event per host and step, through the `on_event`
the session hands it), and a step whose command stays silent past its limit is a failed proof naming
the host and the step, not a wait without end."""

from __future__ import annotations

from tests.planning import fresh_fleet, plan_for
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.pipeline.verify import CLIENT_PROBES, GUARD_CHECKS, verify_fleet
from wizard.remote.errors import RemoteCommandTimeout


class SilentConnection:
    """A connection whose every command sends nothing until its silence limit."""

    def __init__(self, display: str) -> None:
        self.display = display

    def run(self, command: str, **_: object):
        raise RemoteCommandTimeout(self.display, command.split()[0], 60, silent=True)


def test_a_silent_probe_fails_naming_host_and_step_and_every_step_is_reported() -> None:
    inventory, settings, facts, passphrases = fresh_fleet()
    events: list[tuple[str, str, str]] = []
    snapshot = FleetSnapshot(inventory, settings, facts)
    connections = {name: SilentConnection(f"root@{name}:22") for name in facts}
    clients = [c.name for c in inventory.clients]
    _, plan = plan_for(inventory, settings, facts, passphrases)

    report = verify_fleet(snapshot, connections, plan, lambda *event: events.append(event))

    limit = "no answer for 60 s (BORGKEEP_STEP_TIMEOUT sets the limit in seconds)"
    for client in clients:
        failed = next(p for p in report.proofs if p.host == client and not p.ok)
        assert failed.detail == f"verify: {CLIENT_PROBES}: {limit}"
        assert (client, "step", CLIENT_PROBES) in events
        assert (client, "error", f"{CLIENT_PROBES}: 1 of 1 proof(s) failed") in events
    (guard,) = [p for p in report.proofs if p.name == "the guard's checks could run"]
    assert (guard.host, guard.detail) == ("nas", f"verify: {GUARD_CHECKS}: {limit}")
    assert ("nas", "step", GUARD_CHECKS) in events
    assert ("nas", "step", "drift: every managed file planned again") in events
    assert not report.ok
