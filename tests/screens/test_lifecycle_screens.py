"""Pilot tests of a client's later life in the wizard: `ctrl+t` on a saved client opens the
actions; each plans with the real planner (on hand-made facts, no network), shows the
diffs, and applies after a confirmation; a retired client leaves the saved inventory."""

from __future__ import annotations

from pathlib import Path

from conftest import fixed_state
from textual.widgets import Checkbox, DataTable, RadioButton, RadioSet, Static, Tree

from screens.app import BorgkeepApp
from screens.clients import ClientsScreen
from screens.lifecycle import ActionMenu, LifecycleScreen
from screens.modals import ConfirmModal
from tests.test_lifecycle_plan import LISTING, STAMP, applied_session, inspect_report, planned
from wizard.inventory.parse import load_inventory
from wizard.pipeline.apply import ApplyResult, HostOutcome
from wizard.pipeline.lifecycle.request import LifecycleReadings
from wizard.session import LifecycleOutcome

SIZE = (100, 40)


class FakeSession:
    """The session the screen gets: the real planner on an applied fleet's hand-made facts,
    and an apply that reports every change done (like the executor, with its events)."""

    def __init__(self) -> None:
        self.real = applied_session()
        self.readings = LifecycleReadings(inspect=inspect_report(), listing=LISTING)
        self.on_unknown_host_key = None
        self.on_event = None
        self.applied = []

    def plan_lifecycle(self, request):
        return planned(self.real, request, self.readings)

    def apply_lifecycle(self, planned, cancel=None):
        self.applied.append(planned)
        outcomes = {host: HostOutcome(host) for host in planned.plan.hosts}
        for change in planned.plan.changes:
            self.on_event(change.host, "done", change.title)
            outcomes[change.host].done.append(change.title)
        result = ApplyResult(outcomes, notes=[f"{planned.request.client}: all done"])
        outcome = LifecycleOutcome(planned.request, result)
        if planned.request.action == "remove":
            outcome.inventory = self.real.inventory.without_client(planned.request.client)
        return outcome

    def close(self) -> None:
        pass


def app_on_clients(tmp_path: Path, monkeypatch) -> tuple[BorgkeepApp, FakeSession]:
    state = fixed_state(tmp_path)
    state.saved = state.to_inventory()
    for client in state.clients:
        client.saved_name = client.name
    fake = FakeSession()
    monkeypatch.setattr("screens.lifecycle.new_session", lambda _state: fake)
    return BorgkeepApp(state.inventory_path, state=state, start_step=2), fake


async def settle(pilot, screen: LifecycleScreen) -> None:
    for _ in range(100):
        await pilot.pause(0.05)
        if not screen.busy:
            return
    raise AssertionError("the screen stayed busy")


async def open_action(pilot, app, action: str) -> LifecycleScreen:
    await pilot.press("ctrl+t")
    await pilot.pause()
    assert isinstance(app.screen, ActionMenu)
    await pilot.click(f"#do-{action}")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, LifecycleScreen) and screen.action == action
    await settle(pilot, screen)
    return screen


def tree_labels(screen) -> list[str]:
    tree = screen.query_one("#lc-plan-tree", Tree)
    return [str(node.label) for host in tree.root.children for node in [host, *host.children]]


async def test_ctrl_t_retires_a_saved_client_after_showing_its_diffs(tmp_path, monkeypatch):
    app, fake = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ClientsScreen)
        screen = await open_action(pilot, app, "remove")
        labels = tree_labels(screen)
        assert labels[0].startswith("nas · ") and "edit authorized_keys" in labels
        assert "delete host1.passphrase" in labels and any(
            ln.startswith("host1 · ") for ln in labels
        )
        tree = screen.query_one("#lc-plan-tree", Tree)
        passphrase = next(n for h in tree.root.children for n in h.children if n.data[1].secret)
        tree.move_cursor(passphrase)
        await pilot.pause()
        assert "<secret: removed>" in str(screen.query_one("#lc-diff", Static).render())
        assert "KEPT" in str(screen.query_one("#lc-notes", Static).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot, screen)
        assert fake.applied and fake.applied[0].request.purge is False
        saved = load_inventory(app.state.inventory_path)
        assert [c.name for c in saved.clients] == ["host2"]
        assert [c.name for c in app.state.clients] == ["host2"]
        assert "host1 left the inventory" in "\n".join(
            str(line) for line in screen.query_one("#lc-log").lines
        )
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ClientsScreen)
        assert app.screen.query_one("#clients-table", DataTable).row_count == 1


async def test_purging_needs_the_clients_name_typed(tmp_path, monkeypatch):
    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_action(pilot, app, "remove")
        screen.query_one("#purge", Checkbox).value = True
        await pilot.pause()
        assert screen.planned is None and not screen.can_go_next()
        screen.query_one("#purge-confirm").value = "host2"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "type host1 to confirm" in str(screen.query_one("#lc-status", Static).render())
        screen.query_one("#purge-confirm").value = "host1"
        await pilot.press("ctrl+r")
        await settle(pilot, screen)
        assert "run delete-repository" in tree_labels(screen)
        assert screen.can_go_next()


async def test_restore_checks_the_path_then_plans_a_new_directory(tmp_path, monkeypatch):
    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_action(pilot, app, "restore")
        assert screen.planned is None
        path = screen.query_one("#restore-path")
        path.value = "etc/hosts"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.planned is None
        assert "not an absolute path" in str(screen.query_one("#lc-status", Static).render())
        path.value = "/etc/hosts"
        await pilot.press("ctrl+r")
        await settle(pilot, screen)
        (change,) = screen.planned.plan.changes
        assert change.args["destination"] == f"/var/tmp/borgkeep-restore-host1-{STAMP}"
        assert "into the new directory" in str(screen.query_one("#lc-diff", Static).render())


async def test_recover_shows_what_vanished_and_plans_a_rollback_when_chosen(tmp_path, monkeypatch):
    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_action(pilot, app, "recover")
        notes = str(screen.query_one("#lc-notes", Static).render())
        assert "host1-2026-01-01T03:00:00" in notes and "Choose Acknowledge or Roll back" in notes
        assert not screen.can_go_next()
        screen.query_one("#mode", RadioSet).query(RadioButton)[2].value = True
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(pilot, screen)
        assert [c.action for c in screen.planned.plan.changes] == ["guard-rollback", "forget-cache"]
        assert screen.can_go_next()


async def test_the_palette_offers_every_action_for_every_saved_client(tmp_path, monkeypatch):
    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=SIZE):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Retire host2" in titles and "Restore a file onto host1" in titles
        assert "Recover host1 after a guard refusal" in titles
