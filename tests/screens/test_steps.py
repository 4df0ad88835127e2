"""Pilot tests of each step with fixed data (no network): keys, clicks, validation, back/next."""

from __future__ import annotations

from pathlib import Path

from conftest import fixed_report, fixed_state
from textual.widgets import Button, Input, SelectionList, Tree

from screens.app import BorgkeepApp
from screens.clients import ClientsScreen
from screens.done import DoneScreen
from screens.modals import ConfirmModal, HelpModal
from screens.retention import RetentionScreen
from screens.review import ReviewScreen
from screens.server import ServerScreen
from screens.state import WizardState
from screens.welcome import WelcomeScreen
from tests.planning import fresh_fleet
from wizard.inventory.model import save_inventory

SIZE = (100, 36)


async def test_welcome_new_setup_then_help_and_next(tmp_path: Path):
    app = BorgkeepApp(tmp_path / "inventory.yaml")
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, WelcomeScreen)
        assert "No saved inventory" in str(app.screen.query_one("#inventory-summary").render())
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpModal)
        await pilot.press("escape")
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("escape")  # no Back on the first step
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.click("#next")
        await pilot.pause()
        assert isinstance(app.screen, ServerScreen)


async def test_welcome_lists_the_saved_inventory(tmp_path: Path):
    inventory = fresh_fleet()[0]
    path = tmp_path / "inventory.yaml"
    save_inventory(inventory, path)
    app = BorgkeepApp(path)
    async with app.run_test(size=SIZE):
        text = str(app.screen.query_one("#inventory-summary").render())
        assert "Server  nas  (root@nas.lan)" in text
        assert "host1" in text and "host2" in text
        assert [c.name for c in app.state.clients] == ["host1", "host2"]


async def test_server_inputs_validate_as_you_type_and_next_waits_for_a_connection(tmp_path):
    app = BorgkeepApp(tmp_path / "inventory.yaml", start_step=1)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ServerScreen)
        assert screen.query_one("#next", Button).disabled
        # pick from ~/.ssh/config: fills destination and name
        screen.query_one("#config-hosts").focus()
        await pilot.press("enter")
        assert screen.query_one("#server-ssh", Input).value == "nas"
        assert screen.query_one("#server-name", Input).value == "nas"
        borg_user = screen.query_one("#borg-user", Input)
        borg_user.focus()
        await pilot.press(*"Bad User")
        assert not borg_user.is_valid
        error = str(screen.query_one("#borg-user-error").render())
        assert "borg account: 'Bad User' is not a valid user name" in error
        await pilot.press(*["backspace"] * 8, *"borg")
        assert borg_user.is_valid
        repo_root = screen.query_one("#repo-root", Input)
        repo_root.focus()
        await pilot.press(*"relative/path")
        assert not repo_root.is_valid
        await pilot.press("ctrl+u", *"/srv/backups")
        assert repo_root.is_valid
        assert screen.query_one("#next", Button).disabled  # not connected yet
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ServerScreen)


async def test_back_and_next_keep_entered_values(tmp_path: Path):
    state = fixed_state(tmp_path)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=3)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, RetentionScreen)
        daily = app.screen.query_one("#keep_daily", Input)
        daily.focus()
        await pilot.press("ctrl+u", *"14")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert state.retention["keep_daily"] == 14
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RetentionScreen)
        assert app.screen.query_one("#keep_daily", Input).value == "14"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ClientsScreen)
        assert app.screen.query_one("#sources", Input).value == "/etc /home"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ServerScreen)
        assert app.screen.query_one("#server-ssh", Input).value == "root@nas.lan"


async def test_retention_validation_preview_and_schedules(tmp_path: Path):
    state = fixed_state(tmp_path)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=3)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        preview = screen.query_one("#retention-preview")
        assert "Of the last 400 daily archives, 11 survive" in str(preview.render())
        for key in ("keep_daily", "keep_weekly"):
            screen.query_one(f"#{key}", Input).focus()
            await pilot.press("ctrl+u", "0")
        assert "at least one keep_*" in str(preview.render()).lower()
        assert screen.query_one("#next", Button).disabled
        screen.query_one("#keep_monthly", Input).focus()
        await pilot.press("ctrl+u", *"12")
        assert not screen.query_one("#next", Button).disabled
        prune = screen.query_one("#prune-schedule", Input)
        prune.focus()
        await pilot.press("ctrl+u", *"61 5 * * *")
        assert not prune.is_valid
        assert screen.query_one("#next", Button).disabled
        await pilot.press("ctrl+u", *"30 5 * * *")
        runs = prune.parent.query_one(".runs")
        assert "next Sat 15 Mar 05:30" in str(runs.render())
        client_schedule = screen.query_one("#schedule-0", Input)
        client_schedule.focus()
        await pilot.press(*"0 3 * * 1")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert state.retention == {"keep_monthly": 12}
        assert state.prune_schedule == "30 5 * * *"
        assert state.clients[0].schedule == "0 3 * * 1"


async def test_clients_sources_validate_and_remove(tmp_path: Path):
    state = fixed_state(tmp_path)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=2)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        picker = screen.query_one(SelectionList)
        assert picker.selected == []  # the inventory's clients use user@host, not aliases
        sources = screen.query_one("#sources", Input)
        sources.focus()
        await pilot.press("ctrl+u", *"/etc relative")
        assert not sources.is_valid
        assert screen.query_one("#next", Button).disabled
        assert state.clients[0].source_directories == ["/etc"]  # the last valid value
        await pilot.press("ctrl+u", *"/etc, /srv/data")
        assert state.clients[0].source_directories == ["/etc", "/srv/data"]
        await pilot.press("ctrl+u", *"/etc '/srv/my data'")
        assert state.clients[0].source_directories == ["/etc", "/srv/my data"]
        excludes = screen.query_one("#excludes", Input)
        excludes.focus()
        await pilot.press(*"#bad")
        assert not excludes.is_valid
        error = str(screen.query_one("#excludes-error").render())
        assert "host1's exclude patterns: '#bad' starts with '#'" in error
        await pilot.press("ctrl+u", *"*.t?p '/home/*/My Cache'")
        assert state.clients[0].exclude_patterns == ["*.t?p", "/home/*/My Cache"]
        screen.query_one("#clients-table").focus()
        await pilot.press("down")
        assert screen.query_one("#sources", Input).value == "/home/alice/data"
        await pilot.press("delete")
        assert [c.name for c in state.clients] == ["host1"]


async def test_review_tree_diff_and_leaving_hosts_out(tmp_path: Path):
    state = fixed_state(tmp_path)
    state.session = planned_session()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=4)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        tree = screen.query_one(Tree)
        assert screen.focused is tree  # the tree has the focus from the start
        hosts = [node.data[1] for node in tree.root.children]
        assert hosts == ["nas", "host1", "host2"]
        assert [str(node.label) for node in tree.root.children] == [
            "[x] nas (server) · 12 changes",
            "[x] host1 · 6 changes",
            "[x] host2 · 6 changes",
        ]
        summary = str(screen.query_one("#plan-summary").render())
        assert summary.startswith(f"{len(state.plan.changes)} change(s) to apply")
        # move to the first change of the server: its diff is shown under a full heading
        tree.move_cursor(tree.root.children[0].children[0])
        await pilot.pause()
        assert str(screen.query_one("#diff-title").render()).startswith("nas: run create-user")
        # the server cannot be left out while clients stay in
        tree.move_cursor(tree.root.children[0])
        await pilot.press("x")
        assert state.left_out == set()
        # neither a click nor Enter leaves a host out: only its own key does
        host2 = tree.root.children[2]
        tree.move_cursor(host2)
        await pilot.pause()
        await pilot.click(tree, offset=(4, host2.line - tree.scroll_offset.y + 1))
        await pilot.press("enter")
        await pilot.pause()
        assert state.left_out == set()
        await pilot.press("x")
        assert state.left_out == {"host2"}
        label = str(tree.root.children[2].label)
        assert label.startswith("[ ] host2") and "left out" in label
        assert tree.cursor_node is tree.root.children[2]  # the cursor stays on the host
        applied = state.plan_to_apply()
        assert {c.host for c in applied.changes} == {"nas", "host1"}
        # the engine planned host2 out: the server's diffs no longer mention it
        server_diffs = "".join(c.diff for c in applied.changes if c.host == "nas")
        assert "host2" not in server_diffs
        assert "host1" in server_diffs
        # the confirmation says which hosts are left out
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        body = str(app.screen.query_one("#dialog-body").render())
        assert "on 2 host(s): nas, host1" in body
        assert "Left out of this apply (nothing is written there): host2" in body
        assert "saved to" in body and "after a successful apply" in body
        await pilot.press("n")
        tree.move_cursor(tree.root.children[2])
        await pilot.press("x")
        assert state.left_out == set()
        assert "host2" in "".join(c.diff for c in state.plan.changes if c.host == "nas")
        assert not screen.query_one("#next", Button).disabled


def planned_session():
    """A real FleetSession holding hand-made facts (no connection is ever opened)."""
    from wizard.session import FleetSession

    inventory, settings, facts, passphrases = fresh_fleet()
    session = FleetSession(inventory)
    session.settings, session.facts, session.passphrases = settings, facts, passphrases
    return session


async def test_confirm_modal_answers(tmp_path: Path):
    app = BorgkeepApp(tmp_path / "inventory.yaml")
    answers = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConfirmModal("Apply?", "body"), answers.append)
        await pilot.pause()
        await pilot.press("n")
        app.push_screen(ConfirmModal("Apply?", "body"), answers.append)
        await pilot.pause()
        await pilot.click("#yes")
    assert answers == [False, True]


async def test_done_shows_proofs_saved_locations_and_next_steps(tmp_path: Path):
    state = fixed_state(tmp_path)
    state.verify_report = fixed_report()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=6)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DoneScreen)
        proofs = str(screen.query_one("#proofs").render()).splitlines()
        assert proofs[0] == "✓ host1: config validates (borgmatic 1.7.7) — ok"
        assert sum(line.startswith(("✓", "✗")) for line in proofs) == 5
        assert "4 of 5 proofs passed" in str(screen.query_one("#verify-summary").render())
        steps = str(screen.query_one("#next-steps").render())
        assert "first backup of host1" in steps and "extract --archive latest" in steps
        await pilot.press("ctrl+n")
        await pilot.pause()
    assert app.return_code == 0


async def test_done_says_which_clients_are_not_configured_and_the_exact_commands(tmp_path):
    state = fixed_state(tmp_path)
    state.session = planned_session()
    state.verify_report = fixed_report()
    state.not_configured = {"host2": "unreachable: no SSH banner from host2.lan:22 within 15 s"}
    app = BorgkeepApp(state.inventory_path, state=state, start_step=6)
    async with app.run_test(size=SIZE):
        screen = app.screen
        steps = str(screen.query_one("#next-steps").render())
        assert "• host2 is NOT configured (unreachable: no SSH banner" in steps
        assert "first backup of host2" not in steps
        assert "/usr/bin/borgmatic -c /etc/borgkeep/borgkeep-host1.yaml create" in steps
        assert (
            "/usr/bin/borgmatic -c /etc/borgkeep/borgkeep-host1.yaml extract --archive "
            "latest --path etc --destination /tmp"
        ) in steps
        saved = str(screen.query_one("#saved").render())
        assert "Inventory: NOT saved" in saved
        assert "keyring" in saved or "secrets.json" in saved
        assert "Keep a copy elsewhere" in saved
        await app.screen.run_action("save_inventory")
        assert state.inventory_path.exists()
        saved = str(screen.query_one("#saved").render())
        assert f"Inventory: saved to {state.inventory_path}" in saved
        assert "clients not configured stay in it" in saved


def test_state_builds_a_valid_inventory(tmp_path: Path):
    state = fixed_state(tmp_path)
    inventory = state.to_inventory()
    assert [c.name for c in inventory.clients] == ["host1", "host2"]
    again = WizardState.from_inventory(tmp_path / "x.yaml", inventory)
    assert again.to_inventory() == inventory


def test_a_rerun_keeps_the_alerts_section_no_step_edits(tmp_path: Path):
    inventory = fresh_fleet()[0]
    text = tmp_path / "in.yaml"
    save_inventory(inventory, text)
    text.write_text(
        text.read_text() + "alerts:\n  webhook: http://127.0.0.1:9/hook\n  stale_after: 36h\n"
    )
    from wizard.inventory.parse import load_inventory

    saved = load_inventory(text)
    state = WizardState.from_inventory(tmp_path / "x.yaml", saved)
    assert state.to_inventory().alerts == saved.alerts
    assert state.save_inventory().alerts.webhook == "http://127.0.0.1:9/hook"
