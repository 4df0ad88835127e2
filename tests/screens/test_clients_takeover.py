"""Pilot tests of the Clients screen with a client that already backs up to the server with
Borg (issue 21, the wizard): its check shows what discovery found, takes it over by
default, and offers a new repository beside it or leaving it out — each landing where the
CLI's choice lands (`repository:`, or this run's leave-out, kept through to the review's
plan). The client form's repository and archive prefix fields validate as the engine does.

Only the SSH connection is replaced (`probe_client` returns the hand-made facts of
`with_existing_setup`); discovery and planning are the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fixed_state
from test_review_takeover import DEFAULT, FOUND, HandMadeSession, existing_fleet_facts
from textual.widgets import DataTable, Input, RadioButton, Static, Tree

from screens import client_checks
from screens import review as review_module
from screens.app import BorgkeepApp
from screens.clients import ClientsScreen
from screens.modals import TakeoverModal
from screens.review import ReviewScreen
from screens.takeover_choice import left_out_by_choice

SIZE = (110, 40)


@pytest.fixture
def app_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Clients step with host1 and host2 not checked yet; the server's facts hold host1's
    read-write key line (as the server step read them)."""
    facts, _ = existing_fleet_facts()
    checked: list[str] = []

    def probe(name, *_args, **_kwargs):
        checked.append(name)
        return facts[name]

    monkeypatch.setattr(client_checks, "probe_client", probe)
    HandMadeSession.sessions = []
    monkeypatch.setattr(
        review_module, "asking_session", lambda _app, inventory, _accept: HandMadeSession(inventory)
    )
    state = fixed_state(tmp_path)
    state.plan = None
    state.server_facts = facts["nas"]
    for client in state.clients:
        client.facts = None
    return BorgkeepApp(state.inventory_path, state=state, start_step=2), state, checked


async def until(pilot, condition, what: str) -> None:
    for _ in range(200):  # not workers.wait_for_complete(): the wizard's driver never ends
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}")


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def radio(screen, choice: str) -> RadioButton:
    return screen.query_one(f"#choice-{choice}", RadioButton)


async def test_the_check_shows_the_setup_found_and_takes_it_over_by_default(app_clients):
    app, state, checked = app_clients
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        host1 = state.client("host1")
        await until(pilot, lambda: host1.repository is not None, "host1's check")
        assert sorted(checked) == ["host1", "host2"]
        summary = text_of(screen, "#existing-summary")
        assert summary.startswith("↻ host1: existing Borg setup: repository nas:" + FOUND)
        assert "read-write key line" in summary and "client-side prune" in summary
        assert host1.repository == FOUND  # take it over: the default
        assert radio(screen, "take").value and not radio(screen, "beside").value
        assert screen.query_one("#repository", Input).value == FOUND
        assert str(radio(screen, "beside").label).endswith(f"at {DEFAULT}")
        table = screen.query_one("#clients-table", DataTable)
        assert table.get_cell(host1.key, "status") == "✓ ready · takes over"
        assert table.get_cell(state.client("host2").key, "status") == "✓ ready"

        screen.query_one("#clients-table").move_cursor(row=1)  # host2 has nothing of its own
        await until(pilot, lambda: screen.query_one("#client-name", Input).value == "host2", "")
        assert not screen.query_one("#takeover-choice").display
        assert state.client("host2").repository is None


async def test_new_repository_beside_it_and_leave_out_land_where_the_cli_puts_them(app_clients):
    app, state, _ = app_clients
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        host1 = state.client("host1")
        await until(pilot, lambda: host1.repository is not None, "host1's check")
        await pilot.click("#choice-beside")
        await until(pilot, lambda: host1.repository == DEFAULT, "beside")
        assert state.inventory_data()["clients"][0]["repository"] == DEFAULT
        assert screen.query_one("#repository", Input).value == DEFAULT
        assert left_out_by_choice(state) == set()

        await pilot.click("#choice-leave")
        await until(pilot, lambda: host1.repository is None, "leave out")
        assert left_out_by_choice(state) == {"host1"}
        assert "repository" not in state.inventory_data()["clients"][0]
        table = screen.query_one("#clients-table", DataTable)
        assert table.get_cell(host1.key, "status") == "✓ ready · left out"
        assert screen.query_one("#repository", Input).placeholder == f"default: {DEFAULT}"

        # the leave-out survives the next steps (each clears the plan) into the review's plan
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "RetentionScreen", "retention")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: state.plan is not None, "the review's plan")
        assert isinstance(app.screen, ReviewScreen)
        assert state.left_out == {"host1"}
        assert state.plan.for_host("host1") == [] and state.plan.takeovers == {}
        assert not isinstance(app.screen, TakeoverModal)


async def test_taken_over_the_review_opens_on_the_takeovers_own_diffs(app_clients):
    app, state, _ = app_clients
    async with app.run_test(size=SIZE) as pilot:
        host1 = state.client("host1")
        await until(pilot, lambda: host1.repository == FOUND, "host1's check")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "RetentionScreen", "retention")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: state.plan is not None, "the review's plan")
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and set(state.plan.takeovers) == {"host1"}
        tree = screen.query_one("#plan-tree", Tree)
        hosts = [node.data[1] for node in tree.root.children]
        assert hosts == ["host1", "nas", "host2"]  # the client taken over comes first
        host1_changes = [leaf.data[1] for leaf in tree.root.children[0].children]
        assert host1_changes[0].action == "retire-config"
        assert host1_changes[1].path == "crontab:root"  # its cron line commented out
        nas_changes = [leaf.data[1] for leaf in tree.root.children[1].children]
        assert nas_changes[0].path.endswith("authorized_keys.borgkeep-taken-over-host1")
        assert nas_changes[1].path.endswith("/.ssh/authorized_keys")
        await until(pilot, lambda: screen.shown is host1_changes[0], "the first takeover diff")
        assert "retire /etc/borgmatic.d/home.yaml" in text_of(screen, "#diff")
        assert len(HandMadeSession.sessions) == 1  # no modal, no second plan


async def test_repository_and_archive_prefix_fields_check_as_the_engine_does(app_clients):
    app, state, _ = app_clients
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        host1 = state.client("host1")
        await until(pilot, lambda: host1.repository == FOUND, "host1's check")
        prefix = screen.query_one("#archive-prefix", Input)
        assert prefix.placeholder == "default: host1-"
        prefix.value = "{hostname}-"
        await pilot.pause()
        error = text_of(screen, "#archive-prefix-error")
        assert error.startswith("✗ host1's archive prefix: '{hostname}-' is not an archive prefix")
        assert screen.query_one("#next").disabled and host1.archive_prefix is None
        prefix.value = "old-host1-"
        await pilot.pause()
        assert host1.archive_prefix == "old-host1-" and not screen.query_one("#next").disabled
        assert state.inventory_data()["clients"][0]["archive_prefix"] == "old-host1-"

        repository = screen.query_one("#repository", Input)
        repository.value = "/data//backups/host1"
        await pilot.pause()
        assert "write /data/backups/host1" in text_of(screen, "#repository-error")
        assert host1.repository == FOUND  # an invalid value keeps the last
        repository.value = DEFAULT  # typed by hand: the choice follows
        await until(pilot, lambda: radio(screen, "beside").value, "the choice to follow")
        assert host1.repository == DEFAULT and not radio(screen, "take").value
        repository.value = ""
        await pilot.pause()
        assert host1.repository is None
        assert not any(radio(screen, c).value for c in ("take", "beside", "leave"))


async def test_the_choice_is_made_with_the_arrow_keys_too(app_clients):
    app, state, _ = app_clients
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        host1 = state.client("host1")
        await until(pilot, lambda: host1.repository == FOUND, "host1's check")
        screen.query_one("#takeover-options").focus()
        await pilot.press("up", "enter")  # from 'take it over' round to 'leave it out'
        await until(pilot, lambda: left_out_by_choice(state) == {"host1"}, "leave out")
        assert host1.repository is None and radio(screen, "leave").value
        await pilot.press("down", "enter")  # round again to 'take it over'
        await until(pilot, lambda: host1.repository == FOUND, "take it over")
        assert left_out_by_choice(state) == set()


async def test_what_a_client_sent_is_shown_escaped(app_clients):
    app, state, _ = app_clients
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        host1 = state.client("host1")
        await until(pilot, lambda: host1.repository == FOUND, "host1's check")
        screen.form.found_existing(host1, "its existing Borg setup could not be read: \x1b[2J")
        screen.form.show_existing()
        await pilot.pause()
        summary = text_of(screen, "#existing-summary")
        assert summary == "⚠ host1: its existing Borg setup could not be read: \\x1b[2J"
        assert not screen.query_one("#takeover-options").display
