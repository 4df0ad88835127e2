"""FleetSession.plan(leave_out=...): a left-out client is planned out, so the diffs shown
are what apply writes."""

from __future__ import annotations

from tests.planning import converge, fresh_fleet
from wizard.session import FleetSession


def session_with(facts, inventory, settings, passphrases) -> FleetSession:
    session = FleetSession(inventory)
    session.settings, session.facts, session.passphrases = settings, facts, passphrases
    return session


def test_left_out_new_client_gets_no_line_and_no_files():
    inventory, settings, facts, passphrases = fresh_fleet()
    plan = session_with(facts, inventory, settings, passphrases).plan(leave_out={"host2"})
    assert not plan.for_host("host2")
    assert "host2" in plan.hosts  # still listed, with nothing to do
    server = "".join(c.diff + (c.new or "") for c in plan.for_host("nas") if not c.secret)
    assert "borgkeep:host1" in server or "public key of host1" in server
    assert "host2" not in server
    assert any("host2: left out" in w for w in plan.warnings)


def test_left_out_existing_client_keeps_everything_it_has():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    plan = session_with(facts, inventory, settings, passphrases).plan(leave_out={"host1"})
    assert plan.empty


def test_leaving_the_server_out_plans_nothing():
    inventory, settings, facts, passphrases = fresh_fleet()
    plan = session_with(facts, inventory, settings, passphrases).plan(leave_out={"nas"})
    assert plan.empty and plan.warnings == ["nas: left out of this apply"]
