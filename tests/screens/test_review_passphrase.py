"""Pilot tests of the review when the repository to take over opens with no passphrase at
hand: host1's old config takes it from an `encryption_passcommand`, so the plan refuses
(`TakeoverPassphraseNeeded`); the review asks for it in a password field, stores it where
`borgkeep passphrase host1` stores it (the operator's secrets store), and plans again — a
wrong one is asked for again, the right one plans the takeover. The repository is a real
one made by `borg init`; the plan checks the passphrase against its key."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import fixed_state
from test_review_takeover import FOUND, until_planned
from textual.widgets import Input, Static, Tree

from screens import review as review_module
from screens.app import BorgkeepApp
from screens.review import ReviewScreen
from screens.review_takeover import PassphraseModal
from screens.takeover_choice import leave_out_keys
from tests.planning import fresh_fleet
from tests.test_existing_setup_plan import HOME_YAML, with_existing_setup
from wizard.inventory.settings import resolve_server
from wizard.pipeline.facts import DirState, FileState
from wizard.secrets_store import SecretStore, passphrase_name
from wizard.session import FleetSession

SIZE = (110, 36)
SECRET = "passcommand-secret-Qw7"
PASSCOMMAND_YAML = HOME_YAML.replace(
    "encryption_passphrase: SECRETVALUE", "encryption_passcommand: cat /root/.borg-pass"
)


@pytest.fixture(scope="module")
def repository_config(tmp_path_factory) -> str:
    """The `config` of a real repokey repository whose passphrase is SECRET."""
    base = tmp_path_factory.mktemp("borg")
    env = {"BORG_PASSPHRASE": SECRET, "BORG_BASE_DIR": str(base / "base"), "PATH": "/usr/bin:/bin"}
    repository = base / "repo"
    init = ["borg", "init", "-e", "repokey-blake2", str(repository)]
    subprocess.run(init, env=env, check=True, capture_output=True)
    return (repository / "config").read_text()


def passcommand_facts(config_text: str):
    """host1 backs up to nas:/data/backups/host1 with a passcommand; the repository's
    `config` is on the server, as gather reads it for a client placed there."""
    _, _, facts, _ = fresh_fleet()
    facts = with_existing_setup(facts, config=PASSCOMMAND_YAML)
    nas = facts["nas"]
    parent, path = "/data/backups", f"{FOUND}/config"
    facts["nas"] = replace(
        nas,
        dirs={**nas.dirs, parent: DirState(parent, True, 0o700, "borg", "borg", "dir")},
        files={**nas.files, path: FileState(path, config_text.encode(), 0o600, "borg")},
    )
    return facts


@pytest.fixture
def app_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository_config: str):
    class PasscommandSession(FleetSession):
        """Gathers the hand-made facts; the passphrases are resolved as in any session
        (the secrets store first), never handed in."""

        def gather(self):
            self.settings = resolve_server(self.inventory, "root", "nas.lan", 22)
            self.facts, self.errors = passcommand_facts(repository_config), {}
            return self.facts

    monkeypatch.setattr(
        review_module, "asking_session", lambda _a, inventory, _k: PasscommandSession(inventory)
    )
    state = fixed_state(tmp_path)
    state.plan = None
    state.client("host1").repository = FOUND  # take it over (chosen on the clients step)
    return BorgkeepApp(state.inventory_path, state=state, start_step=4), state


async def until_asked(app, pilot) -> PassphraseModal:
    for _ in range(200):  # not workers.wait_for_complete(): the wizard's driver never ends
        await pilot.pause(0.05)
        if isinstance(app.screen, PassphraseModal) and app.focused is not None:
            return app.screen  # up, and its field focused (a loaded machine mounts it first)
    raise AssertionError(f"no passphrase modal with its field focused, on {app.screen}")


def screen_text(app) -> str:
    return app.export_screenshot()


async def test_the_review_asks_stores_as_the_cli_does_and_plans_the_takeover(app_passphrase):
    app, state = app_passphrase
    store_name = passphrase_name("nas", "host1")
    async with app.run_test(size=SIZE) as pilot:
        modal = await until_asked(app, pilot)
        body = str(modal.query_one("#dialog-body", Static).render())
        assert "its old config holds no passphrase" in body
        field = modal.query_one("#passphrase", Input)
        assert field.password and app.focused is field
        hint = str(modal.query_one("#passphrase-hint", Static).render())
        assert "where `borgkeep passphrase host1` stores it" in hint
        assert str(SecretStore().path) in hint  # no keyring here: the 0600 file
        assert not modal.query("#passphrase-wrong")

        await pilot.press(*"not-the-passphrase", "enter")  # wrong: asked again, saying so
        modal = await until_asked(app, pilot)
        wrong = str(modal.query_one("#passphrase-wrong", Static).render())
        assert wrong == "✗ The passphrase typed here before does not open it."
        assert SecretStore().get(store_name) == "not-the-passphrase"
        assert state.plan is None

        await pilot.press(*SECRET)
        assert SECRET not in screen_text(app)  # typed, never shown
        await pilot.click("#store")
        await until_planned(app, pilot, state)
        assert isinstance(app.screen, ReviewScreen)
        assert SecretStore().get(store_name) == SECRET  # where `borgkeep passphrase` puts it
        assert set(state.plan.takeovers) == {"host1"}
        assert state.session.passphrases["host1"].value == SECRET
        assert SECRET not in screen_text(app)
        assert all(SECRET not in n.message for n in app._notifications)
        assert all(SECRET not in change.diff for change in state.plan.changes)


async def test_escape_stores_nothing_and_keeps_the_refusal_on_screen(app_passphrase):
    app, state = app_passphrase
    async with app.run_test(size=SIZE) as pilot:
        await until_asked(app, pilot)
        await pilot.press(*"typed-then-abandoned", "escape")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and state.plan is None
        assert SecretStore().get(passphrase_name("nas", "host1")) is None
        summary = str(app.screen.query_one("#plan-summary", Static).render())
        assert summary.startswith("Planning failed: host1: cannot take over " + FOUND)
        assert "borgkeep passphrase host1" in summary


async def test_taking_a_left_out_client_back_in_asks_for_its_passphrase(app_passphrase):
    app, state = app_passphrase
    leave_out_keys(state).add(state.client("host1").key)  # left out on the clients step
    async with app.run_test(size=SIZE) as pilot:
        screen = await until_planned(app, pilot, state)
        assert state.left_out == {"host1"} and state.plan.takeovers == {}
        tree = screen.query_one("#plan-tree", Tree)
        tree.move_cursor(next(n for n in tree.root.children if n.data[1] == "host1"))
        await pilot.press("x")  # taken back in: the plan needs its passphrase
        await until_asked(app, pilot)
        await pilot.press(*SECRET, "enter")
        await until_planned(app, pilot, state)
        assert state.left_out == set() and set(state.plan.takeovers) == {"host1"}


async def test_a_failed_plan_again_leaves_nothing_of_the_earlier_plan_on_screen(app_passphrase):
    app, state = app_passphrase
    SecretStore().set(passphrase_name("nas", "host1"), SECRET)  # given earlier: it plans
    async with app.run_test(size=SIZE) as pilot:
        screen = await until_planned(app, pilot, state)
        assert set(state.plan.takeovers) == {"host1"}
        assert screen.query_one("#plan-tree", Tree).root.children
        SecretStore().set(passphrase_name("nas", "host1"), "changed-since")
        await pilot.press("ctrl+r")  # planned again: the store's passphrase opens nothing
        await until_asked(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert state.plan is None and not screen.query_one("#plan-tree", Tree).root.children
        assert screen.shown is None
        assert str(screen.query_one("#plan-warnings", Static).render()) == ""
