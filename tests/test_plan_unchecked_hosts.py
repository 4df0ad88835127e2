"""Issue 25, item 3: a plan with hosts it could not check never says "nothing to change";
it says how many hosts it checked and which ones it could not, in the text, the JSON, the
CLI's output (exit 1 stays) and a lifecycle plan."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from tests.planning import INVENTORY, fresh_fleet
from wizard import cli
from wizard.pipeline.desired import compute_desired_state
from wizard.pipeline.plan import Plan, compute_plan
from wizard.reports import NOTHING_TO_CHANGE, plan_headline, plan_summary, render_plan_text
from wizard.session import FleetSession

REFUSED = "cannot reach host2.lan:22: Connection refused"


def empty_plan_without_host2() -> Plan:
    """What the planner returns for an applied fleet whose host2 could not be reached."""
    left_out = f"host2: unreachable, left out of this plan ({REFUSED})"
    return Plan([], [left_out], {}, ["nas", "host1"], unchecked={"host2": REFUSED})


def test_an_empty_plan_with_an_unreachable_host_says_what_was_not_checked():
    plan = empty_plan_without_host2()
    text = render_plan_text(plan)
    assert "Nothing to change" not in text and "desired state" not in text
    first, *_, last = text.splitlines()
    assert first == (
        "No change planned for the 2 hosts checked; 1 host could not be checked: "
        f"host2 (unreachable: {REFUSED})."
    )
    assert last == "0 change(s) on 0 host(s); 1 host not checked"


def test_a_plan_with_changes_and_an_unreachable_host_names_it_first():
    inventory, settings, facts, passphrases = fresh_fleet()
    del facts["host2"]
    desired = compute_desired_state(inventory, settings, facts, passphrases)
    plan = compute_plan(desired, facts, {"host2": REFUSED})
    assert not plan.empty
    text = render_plan_text(plan)
    assert text.splitlines()[0].startswith(
        "This plan covers the 2 hosts checked; 1 host could not be checked: host2 ("
    )
    assert "host2: not checked (unreachable)" in plan_summary(plan, set())


def test_a_fleet_checked_whole_with_nothing_to_change_still_says_so():
    plan = Plan([], [], {}, ["nas", "host1", "host2"])
    assert plan_headline(plan) == NOTHING_TO_CHANGE
    assert render_plan_text(plan).splitlines()[-1] == "0 change(s) on 0 host(s)"
    data = json.loads(plan.to_json())
    assert data["unchecked"] == [] and "unreachable" not in data
    assert data["counts"] == {"changes": 0, "hosts_checked": 3, "hosts_unchecked": 0}


def test_the_json_lists_the_unchecked_hosts_and_keeps_its_keys():
    data = json.loads(empty_plan_without_host2().to_json())
    assert set(data) >= {"changes", "summary", "warnings", "unchecked", "counts"}
    assert data["changes"] == []
    assert data["unchecked"] == [{"host": "host2", "reason": REFUSED}]
    assert data["unreachable"] == {"host2": REFUSED}
    assert data["counts"] == {"changes": 0, "hosts_checked": 2, "hosts_unchecked": 1}


def test_two_unchecked_hosts_are_counted_and_each_named():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = {"nas": facts["nas"]}
    desired = compute_desired_state(inventory, settings, facts, {})
    plan = compute_plan(desired, facts, {"host2": REFUSED, "host1": "no SSH banner"})
    assert plan.unchecked == {"host1": "no SSH banner", "host2": REFUSED}
    plan.changes = []  # as on a rerun, when the server is already set up
    assert plan_headline(plan) == (
        "No change planned for the 1 host checked; 2 hosts could not be checked: "
        f"host1 (unreachable: no SSH banner), host2 (unreachable: {REFUSED})."
    )


def test_a_reason_cannot_rewrite_the_terminal():
    plan = empty_plan_without_host2()
    plan.unchecked = {"host2": "refused\x1b[2J\nsecond line"}
    headline = plan_headline(plan)
    assert "\x1b" not in headline and "\n" not in headline


class PlannedSession(FleetSession):
    """A session that has gathered already (no network) and plans `planned`."""

    planned: Plan

    def plan(self, leave_out=()) -> Plan:
        return self.planned


def scripted_session(plan: Plan, errors: dict[str, str]) -> PlannedSession:
    inventory, settings, facts, passphrases = fresh_fleet()
    session = PlannedSession(inventory)
    session.settings, session.facts, session.passphrases = settings, facts, passphrases
    session.errors, session.planned = dict(errors), plan
    return session


@pytest.fixture
def cli_with_host2_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text(INVENTORY)
    session = scripted_session(empty_plan_without_host2(), {"host2": REFUSED})
    monkeypatch.setattr(cli.common, "session", lambda args, inventory, quiet=False: session)
    return inventory_path


def test_borgkeep_plan_text_and_json_exit_1_and_never_claim_nothing_to_change(
    cli_with_host2_unreachable: Path, capsys: pytest.CaptureFixture
):
    inventory = str(cli_with_host2_unreachable)
    assert cli.main(["--inventory", inventory, "plan"]) == cli.EXIT_ERROR
    out = capsys.readouterr().out
    assert out.startswith("No change planned for the 2 hosts checked; 1 host could not be")
    assert "Nothing to change" not in out
    assert cli.main(["--inventory", inventory, "plan", "--json"]) == cli.EXIT_ERROR
    data = json.loads(capsys.readouterr().out)
    assert data["unchecked"] == [{"host": "host2", "reason": REFUSED}]
    assert data["unreachable"] == {"host2": REFUSED}
    assert data["counts"]["hosts_unchecked"] == 1


def test_borgkeep_apply_with_nothing_to_do_says_what_was_not_checked(
    cli_with_host2_unreachable: Path, capsys: pytest.CaptureFixture, monkeypatch
):
    monkeypatch.setattr(FleetSession, "locked", lambda self, timeout=None: contextlib.nullcontext())
    inventory = str(cli_with_host2_unreachable)
    assert cli.main(["--inventory", inventory, "apply", "--yes"]) == cli.EXIT_ERROR
    out = capsys.readouterr().out
    assert out.startswith("No change planned for the 2 hosts checked; 1 host could not be")
    assert "Nothing to change" not in out


def test_a_lifecycle_plan_with_the_client_unreachable_says_so_in_text_and_json():
    from tests.test_lifecycle_plan import applied_session, planned
    from wizard.pipeline.lifecycle.request import LifecycleRequest
    from wizard.reports import lifecycle_plan_text

    session = applied_session()
    del session.facts["host1"]
    session.errors = {"host1": REFUSED}
    result = planned(session, LifecycleRequest("remove", "host1"))
    text = lifecycle_plan_text(result)
    assert "1 host could not be checked: host1 (unreachable: " in text
    assert json.loads(result.plan.to_json())["unchecked"] == [{"host": "host1", "reason": REFUSED}]
