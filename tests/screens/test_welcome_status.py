"""The rerun's welcome screen leads with the fleet's health: loaded in a worker from
`FleetSession.status()`, the rows `borgkeep status` prints (problems first), the selected
client's problems below, the server's free space, ctrl+r to ask again, a clear message when
the server cannot tell, and what to do about a client (exact commands) in a modal."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import STATUS_INVENTORY, STATUS_NOW, fixed_status
from textual.widgets import DataTable, Static

from screens.app import BorgkeepApp
from screens.client_status import ClientStatusModal
from screens.modals import ErrorModal, HelpModal
from screens.server import ServerScreen
from screens.welcome import WelcomeScreen
from wizard.inventory.model import save_inventory
from wizard.inventory.parse import parse_inventory
from wizard.remote.host_keys import HostKeyChanged
from wizard.reports import status_rows
from wizard.session import FleetSession, ServerUnavailable, StatusError

SIZE = (100, 32)
GUARD = "runuser -u borg -- /usr/bin/python3 -I /home/borg/.config/borgkeep/guard.py"


def rerun_app(tmp_path: Path) -> BorgkeepApp:
    path = tmp_path / "inventory.yaml"
    save_inventory(parse_inventory(STATUS_INVENTORY), path)
    app = BorgkeepApp(path)
    app.state.now = STATUS_NOW
    return app


def serve(monkeypatch: pytest.MonkeyPatch, answer) -> list[str]:
    """`FleetSession.status` returns `answer()` (or raises what it raises); returns the
    names of the servers asked, in order."""
    asked: list[str] = []

    def status(self):
        asked.append(self.server_name)
        return answer()

    monkeypatch.setattr(FleetSession, "status", status)
    return asked


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def table_rows(screen) -> list[tuple[str, ...]]:
    table = screen.query_one("#status-table", DataTable)
    return [tuple(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]


async def loaded(pilot) -> None:
    """Until the status worker has finished and its result is on the screen."""
    for _ in range(100):
        await pilot.pause()
        if not any(w.group == "status" and not w.is_finished for w in pilot.app.workers):
            await pilot.pause()
            return
    raise AssertionError("the status worker did not finish")


async def test_the_health_table_shows_the_cli_rows_problems_first(tmp_path, monkeypatch):
    report = fixed_status()
    asked = serve(monkeypatch, lambda: report)
    app = rerun_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, WelcomeScreen) and asked == ["nas"]
        rows = table_rows(screen)
        assert rows == status_rows(report, STATUS_NOW)
        assert [row[1:4] for row in rows] == [
            ("db1", "refused", "9 h ago"),
            ("laptop", "never", "never"),
            ("mail", "stale", "4 days ago"),
            ("web1", "ok", "2 h ago"),
        ]
        assert rows[0][6] == "refused 4 h ago" and rows[3][7] == "19.0 GiB of 50.0 GiB"
        assert text(screen, "#status-message") == "3 client(s) need attention"
        assert "db1: the guard refused at 2025-03-14T07:30:02" in text(screen, "#status-detail")
        assert text(screen, "#server-space") == (
            "server nas: 412.0 GiB free of 1.8 TiB at /srv/backups"
        )
        assert screen.focused is screen.query_one("#status-table")
        await pilot.press("down")
        detail = text(screen, "#status-detail")
        assert detail.startswith("laptop: never backed up") and "enter: what to do" in detail
        await pilot.press("down", "down")
        assert text(screen, "#status-detail") == (
            "web1: ok — newest archive web1-2025-03-14T09:12:03 (2 h ago)"
        )
        assert app.state.status is report
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ServerScreen)
        await pilot.press("escape")  # back: the report is kept, not asked for again
        await loaded(pilot)
        assert asked == ["nas"] and table_rows(app.screen) == rows


async def test_loading_never_blocks_the_screen(tmp_path, monkeypatch):
    release = threading.Event()

    def slow():
        release.wait(10)
        return fixed_status()

    serve(monkeypatch, slow)
    app = rerun_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert text(screen, "#status-message") == "Asking nas for the fleet's health …"
        assert screen.query_one("#status-loading").display
        assert not screen.query_one("#status-table").display
        await pilot.press("f1")
        assert isinstance(app.screen, HelpModal)
        await pilot.press("escape")
        release.set()
        await loaded(pilot)
        assert not screen.query_one("#status-loading").display
        assert len(table_rows(screen)) == 4


async def test_an_unreachable_server_or_no_guard_yet_is_said_plainly_and_ctrl_r_asks_again(
    tmp_path, monkeypatch
):
    app = rerun_app(tmp_path)  # conftest: the server is unreachable
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = app.screen
        message = text(screen, "#status-message")
        assert message.startswith("The server cannot be reached, so its health is unknown: nas:")
        assert "ctrl+r tries again" in message
        assert not screen.query_one("#status-table").display
        assert not screen.query_one("#status-detail").display

        def not_installed():
            raise StatusError("nas: the guard could not report (exit 2): no such file")

        serve(monkeypatch, not_installed)
        await pilot.press("ctrl+r")
        await loaded(pilot)
        message = text(screen, "#status-message")
        assert message.startswith("The server cannot report its health yet: nas: the guard")
        assert "installs the guard" in message
        serve(monkeypatch, fixed_status)
        await pilot.press("ctrl+r")
        await loaded(pilot)
        assert len(table_rows(screen)) == 4 and screen.query_one("#status-detail").display


async def test_a_changed_host_key_is_a_hard_stop(tmp_path, monkeypatch):
    def changed():
        cause = HostKeyChanged("nas.lan", 22, "ssh-ed25519", ("SHA256:old",), "SHA256:new",
                               tmp_path / "known_hosts")  # fmt: skip
        raise ServerUnavailable(f"nas: {cause}") from cause

    serve(monkeypatch, changed)
    app = rerun_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert isinstance(app.screen, ErrorModal)
        await pilot.press("escape")
        assert text(app.screen, "#status-message").startswith("STOP: ")


async def test_enter_on_a_refused_client_shows_what_to_do(tmp_path, monkeypatch):
    serve(monkeypatch, fixed_status)
    app = rerun_app(tmp_path)
    chosen = []
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        welcome = app.screen
        welcome.client_action_chosen = lambda client, action: chosen.append((client.name, action))
        await pilot.press("enter")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ClientStatusModal)
        lines = [str(s.render()) for s in modal.query("#client-status-body Static")]
        assert lines[0].startswith("db1: the guard refused at 2025-03-14T07:30:02+00:00")
        assert f"{GUARD} check db1" in lines
        assert f"{GUARD} acknowledge db1" in lines
        assert any("ssh root@nas.lan" in line for line in lines)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is welcome and chosen == [("db1", "close")]
        await pilot.press("down", "enter")  # laptop: no acknowledge for a client never backed up
        await pilot.pause()
        lines = [str(s.render()) for s in app.screen.query("#client-status-body Static")]
        assert f"{GUARD} check laptop" in lines and not any("acknowledge" in x for x in lines)
        await pilot.click("#close")
        await pilot.pause()
        assert chosen[-1] == ("laptop", "close")


async def test_a_new_setup_shows_no_health_and_asks_no_server(tmp_path, monkeypatch):
    asked = serve(monkeypatch, fixed_status)
    app = BorgkeepApp(tmp_path / "inventory.yaml")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert not app.screen.query("#status-table")
        assert "No saved inventory" in text(app.screen, "#inventory-summary")
        assert app.screen.check_action("refresh_status", ()) is False
        await pilot.press("ctrl+r")
    assert asked == []


async def test_a_refused_client_can_be_recovered_from_the_health_view(tmp_path, monkeypatch):
    from screens.lifecycle import LifecycleScreen

    serve(monkeypatch, fixed_status)
    monkeypatch.setattr(LifecycleScreen, "action_plan", lambda self: None)
    clients = {c.name: c for c in fixed_status().clients}
    app = rerun_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        welcome = app.screen
        assert [key for key, _ in welcome.client_actions(clients["db1"])] == ["recover", "restore"]
        assert [key for key, _ in welcome.client_actions(clients["web1"])] == ["restore"]
        await pilot.press("enter")  # db1, refused: the first row
        await pilot.pause()
        assert isinstance(app.screen, ClientStatusModal)
        await pilot.click("#recover")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LifecycleScreen)
        assert (screen.action, screen.client) == ("recover", "db1")
