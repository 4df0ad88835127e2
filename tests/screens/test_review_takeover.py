"""Pilot tests of the review when a client already backs up to the server with Borg and its
entry has no `repository:`: planning refuses (`TakeoverChoiceNeeded`), the review asks in a
modal (take it over, a new repository beside it, or leave the client out), sets the
client's `repository`, plans again and lists the takeover's steps. No network: each session
"gathers" hand-made facts (host1 with an existing setup, `with_existing_setup`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import fixed_state
from textual.widgets import Button, Static, Tree

from screens import review as review_module
from screens.app import BorgkeepApp
from screens.modals import TakeoverModal
from screens.review import ReviewScreen
from screens.state import WizardState
from screens.takeover_choice import left_out_by_choice
from tests.planning import fresh_fleet
from tests.test_existing_setup_plan import with_existing_setup
from wizard.inventory.settings import resolve_server
from wizard.pipeline.facts import DirState
from wizard.session import FleetSession

SIZE = (110, 36)
FOUND = "/data/backups/host1"
"""Where host1's existing setup backs up on the server (`with_existing_setup`)."""
DEFAULT = "/backups/host1"
"""Borgkeep's default path for host1: a new repository beside the old one."""


def existing_fleet_facts():
    """fresh_fleet's facts with host1's existing setup, and the directory of its old
    repository owned by the borg user (as gather would read it)."""
    _, _, facts, passphrases = fresh_fleet()
    facts = with_existing_setup(facts)
    nas = facts["nas"]
    parent = "/data/backups"
    facts["nas"] = replace(
        nas, dirs={**nas.dirs, parent: DirState(parent, True, 0o700, "borg", "borg", "dir")}
    )
    return facts, passphrases


class HandMadeSession(FleetSession):
    """Gathers the hand-made facts instead of connecting; settings from its own inventory
    (a `repository:` changes them)."""

    sessions: list[HandMadeSession] = []

    def gather(self):
        facts, passphrases = existing_fleet_facts()
        self.settings = resolve_server(self.inventory, "root", "nas.lan", 22)
        self.facts, self.errors = facts, {}
        self.passphrases = dict(passphrases)
        self.sessions.append(self)
        return self.facts


@pytest.fixture
def app_planning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    HandMadeSession.sessions = []
    monkeypatch.setattr(
        review_module, "asking_session", lambda _app, inventory, _accept: HandMadeSession(inventory)
    )
    state = fixed_state(tmp_path)
    state.plan = None
    return BorgkeepApp(state.inventory_path, state=state, start_step=4), state


async def until_modal(app, pilot) -> TakeoverModal:
    for _ in range(100):  # not workers.wait_for_complete(): the wizard's driver never ends
        await pilot.pause(0.05)
        if isinstance(app.screen, TakeoverModal):
            return app.screen
    raise AssertionError(f"no takeover modal, on {app.screen}")


async def until_planned(app, pilot, state: WizardState) -> ReviewScreen:
    for _ in range(100):  # not workers.wait_for_complete(): the wizard's driver never ends
        await pilot.pause(0.05)
        if state.plan is not None and isinstance(app.screen, ReviewScreen):
            await pilot.pause()
            return app.screen
    raise AssertionError(f"not planned, on {app.screen}")


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_the_modal_asks_with_three_buttons_and_take_it_over_plans_the_takeover(
    app_planning,
):
    app, state = app_planning
    async with app.run_test(size=SIZE) as pilot:
        modal = await until_modal(app, pilot)
        assert str(modal.query_one("#dialog-title", Static).render()) == (
            "host1 already backs up with Borg"
        )
        body = str(modal.query_one("#dialog-body", Static).render())
        assert f"repository: {FOUND}" in body and f"repository: {DEFAULT}" in body
        labels = [str(b.label) for b in modal.query(Button)]
        assert labels == ["Take it over", "New repository beside it", "Leave host1 out"]
        assert app.focused.id == "take"
        await pilot.press("enter")
        screen = await until_planned(app, pilot, state)
        assert state.client("host1").repository == FOUND
        assert set(state.plan.takeovers) == {"host1"}
        assert "host1" not in state.left_out
        warnings = text_of(screen, "#plan-warnings")
        assert f"↻ host1: take over the repository {FOUND} with every archive" in warnings
        assert "retire /etc/borgmatic.d/home.yaml" in warnings
        assert "remove line 1 of the server's authorized_keys" in warnings
        tree = screen.query_one("#plan-tree", Tree)
        host1 = next(n for n in tree.root.children if n.data[1] == "host1")
        tree.move_cursor(host1)
        await pilot.pause()
        assert "Its existing Borg setup is taken over:" in text_of(screen, "#diff")
        assert f"take over the repository {FOUND}" in text_of(screen, "#diff")
        data = state.inventory_data()
        assert data["clients"][0]["repository"] == FOUND
        assert "repository" not in data["clients"][1]


async def test_new_repository_beside_it_sets_the_default_path(app_planning):
    app, state = app_planning
    async with app.run_test(size=SIZE) as pilot:
        await until_modal(app, pilot)
        await pilot.click("#beside")
        await until_planned(app, pilot, state)
        assert state.client("host1").repository == DEFAULT
        assert state.plan.takeovers == {}
        assert "host1" not in state.left_out
        assert "host1" in state.plan.hosts and state.plan.for_host("host1")


async def test_leave_out_plans_without_the_client_on_the_same_facts(app_planning):
    app, state = app_planning
    async with app.run_test(size=SIZE) as pilot:
        await until_modal(app, pilot)
        await pilot.click("#leave")
        screen = await until_planned(app, pilot, state)
        assert state.client("host1").repository is None
        assert state.left_out == {"host1"}
        assert state.plan.for_host("host1") == []
        assert len(HandMadeSession.sessions) == 1  # no second gather to leave a host out
        assert "host1: left out of this apply" in text_of(screen, "#plan-warnings")
        assert left_out_by_choice(state) == {"host1"}  # as if chosen on the clients step
        await pilot.press("ctrl+r")  # planning again keeps the answer: no second question
        for _ in range(100):
            await pilot.pause(0.05)
            if len(HandMadeSession.sessions) == 2 and state.plan is not None:
                break
        assert len(HandMadeSession.sessions) == 2 and state.plan is not None
        assert state.left_out == {"host1"} and state.plan.for_host("host1") == []
        assert not isinstance(app.screen, TakeoverModal)
        tree = screen.query_one("#plan-tree", Tree)
        labels = [str(n.label) for n in tree.root.children]
        assert any(label.startswith("[ ] host1") for label in labels)
        host1 = next(n for n in tree.root.children if n.data[1] == "host1")
        tree.move_cursor(host1)
        await pilot.press("x")  # taken back in: the choice is asked again
        modal = await until_modal(app, pilot)
        assert modal.host == "host1" and left_out_by_choice(state) == set()
        await pilot.press("escape")
        await pilot.pause()
        assert state.left_out == {"host1"} and state.plan is not None


async def test_escape_keeps_the_refusal_on_screen_and_decides_nothing(app_planning):
    app, state = app_planning
    async with app.run_test(size=SIZE) as pilot:
        await until_modal(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert state.plan is None and state.client("host1").repository is None
        summary = text_of(app.screen, "#plan-summary")
        assert summary.startswith("Planning failed: host1: already backs up to nas:")
        assert len(HandMadeSession.sessions) == 1


def test_a_rerun_keeps_repository_and_archive_prefix(tmp_path: Path):
    inventory, *_ = fresh_fleet()
    host1 = replace(inventory.client("host1"), repository=FOUND, archive_prefix="old-host1-")
    state = WizardState.from_inventory(tmp_path / "inventory.yaml", inventory.with_client(host1))
    entry = state.client("host1")
    assert (entry.repository, entry.archive_prefix) == (FOUND, "old-host1-")
    assert state.to_inventory().client("host1") == host1
    assert state.to_inventory().client("host2").repository is None
