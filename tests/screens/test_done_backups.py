"""First backups from the done screen: a key and a button run every configured client's
backup job through the session (in a worker, per-client progress), then the proofs again."""

from __future__ import annotations

import threading
from pathlib import Path

from conftest import fixed_report, fixed_state
from textual.widgets import Button, Static

from screens.app import BorgkeepApp
from screens.done import DoneScreen
from tests.planning import fresh_fleet
from wizard.pipeline.verify import Proof, VerifyReport
from wizard.session import FirstBackup, FleetSession

SIZE = (100, 32)
COUNTED = VerifyReport(
    proofs=[
        Proof("nas", "the guard's check for host1", True, "1 archive(s); prune would keep 1"),
    ]
)


class FakeFleet(FleetSession):
    """A planned session whose backups and proofs are scripted (no network)."""

    def __init__(self) -> None:
        inventory, settings, facts, passphrases = fresh_fleet()
        super().__init__(inventory)
        self.settings, self.facts, self.passphrases = settings, facts, passphrases
        self.backed_up: list[list[str]] = []
        self.verified = 0
        self.release = threading.Event()
        self.release.set()

    def first_backups(self, clients=None, on_event=None):
        self.backed_up.append(list(clients))
        for name in clients:
            on_event(name, "step", "backing up (its cron job, run now)")
        self.release.wait(10)
        outcomes = {}
        for name in clients:
            ok = name == "host1"
            detail = "archive made" if ok else "exit 1: Connection closed by remote host"
            outcomes[name] = FirstBackup(name, ok, detail, "/usr/bin/borgmatic ...", 3.2)
            on_event(name, "done" if ok else "error", detail)
        return outcomes

    def verify(self):
        self.verified += 1
        return COUNTED


def done_app(tmp_path: Path, session: FleetSession | None = None) -> BorgkeepApp:
    state = fixed_state(tmp_path)
    state.session = session
    state.verify_report = fixed_report()
    return BorgkeepApp(state.inventory_path, state=state, start_step=6)


async def settle(pilot, condition) -> None:
    for _ in range(200):
        await pilot.pause(0.02)
        if condition():
            await pilot.pause()
            return
    raise AssertionError("timed out")


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_b_backs_up_every_client_with_progress_then_verifies_again(tmp_path):
    session = FakeFleet()
    session.release.clear()
    app = done_app(tmp_path, session)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DoneScreen)
        assert not screen.query_one("#first-backups", Button).disabled
        await pilot.press("b")
        await settle(pilot, lambda: "backing up" in text(screen, "#backups"))
        assert text(screen, "#backups").splitlines() == [
            "· host1: backing up (its cron job, run now)",
            "· host2: backing up (its cron job, run now)",
        ]
        assert screen.query_one("#first-backups", Button).disabled
        assert screen.check_action("first_backups", ()) is None
        assert screen.check_action("verify", ()) is None
        session.release.set()
        await settle(pilot, lambda: session.verified == 1 and screen.busy is None)
        assert session.backed_up == [["host1", "host2"]]
        assert text(screen, "#backups").splitlines() == [
            "✓ host1: archive made in 3 s",
            "✗ host2: no backup — exit 1: Connection closed by remote host",
            "1 of 2 client(s) backed up.",
        ]
        assert "1 archive(s); prune would keep 1" in text(screen, "#proofs")
        assert set(app.state.first_backups) == {"host1", "host2"}
        assert not screen.query_one("#first-backups", Button).disabled


async def test_the_button_backs_up_only_the_clients_this_run_configured(tmp_path):
    session = FakeFleet()
    app = done_app(tmp_path, session)
    app.state.not_configured = {"host2": "unreachable: connection refused"}
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#first-backups", Button).scroll_visible(animate=False)
        await pilot.pause()
        await pilot.click("#first-backups")
        await settle(pilot, lambda: session.verified == 1 and screen.busy is None)
        assert session.backed_up == [["host1"]]
        assert text(screen, "#backups").endswith("1 of 1 client(s) backed up.")


async def test_without_an_applied_session_there_is_nothing_to_back_up(tmp_path):
    app = done_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.query_one("#first-backups", Button).disabled
        assert screen.check_action("first_backups", ()) is None
        await pilot.press("b")
        await pilot.pause()
        assert text(screen, "#backups") == ""
