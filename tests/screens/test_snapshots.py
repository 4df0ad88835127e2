"""Fixed-size SVG snapshots of the key screens, from fixed data (no network, no animation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import STATUS_INVENTORY, STATUS_NOW, fixed_report, fixed_state, fixed_status
from textual.widgets import Input, Tree

from screens.app import BorgkeepApp
from wizard.inventory.model import save_inventory
from wizard.inventory.parse import parse_inventory
from wizard.session import FleetSession

SIZE = (100, 32)


async def _steady(pilot) -> None:
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def _app(tmp_path: Path, step: int) -> BorgkeepApp:
    state = fixed_state(tmp_path)
    state.inventory_path = Path("/home/operator/.config/borgkeep/inventory.yaml")
    state.verify_report = fixed_report()
    return BorgkeepApp(state.inventory_path, state=state, start_step=step)


@pytest.mark.parametrize(
    "step,name",
    [(1, "server"), (2, "clients"), (3, "retention"), (4, "review"), (6, "done")],
)
def test_step_snapshot(snap_compare, tmp_path: Path, step: int, name: str):
    assert snap_compare(_app(tmp_path, step), terminal_size=SIZE, run_before=_steady)


def _welcome_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BorgkeepApp:
    """A rerun whose server reports one client of each state (through the status worker)."""
    path = tmp_path / "inventory.yaml"
    save_inventory(parse_inventory(STATUS_INVENTORY), path)
    monkeypatch.setattr(FleetSession, "status", lambda self: fixed_status())
    app = BorgkeepApp(path)
    app.state.inventory_path = Path("/home/operator/.config/borgkeep/inventory.yaml")
    app.state.now = STATUS_NOW
    return app


async def _status_loaded(pilot) -> None:
    for _ in range(400):  # up to 20 s: the status worker is a thread, slow on a loaded machine
        await pilot.pause(0.05)
        if pilot.app.state.status is not None:
            break
    await pilot.wait_for_scheduled_animations()  # and the table it fills drawn, scrolled
    await pilot.pause(0.5)
    await _steady(pilot)


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["100x32", "80x24"])
def test_welcome_rerun_snapshot(snap_compare, tmp_path: Path, monkeypatch, size):
    app = _welcome_rerun(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=size, run_before=_status_loaded)


def test_what_to_do_for_a_refused_client_at_80x24_snapshot(snap_compare, tmp_path, monkeypatch):
    async def open_db1(pilot) -> None:
        await _status_loaded(pilot)
        await pilot.press("enter")
        await pilot.pause()

    app = _welcome_rerun(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_db1)


async def _on_authorized_keys(pilot) -> None:
    """The review with the server's authorized_keys selected: its key lines wrap."""
    for _ in range(50):
        if pilot.app.screen.query(Tree):
            break
        await pilot.pause(0.05)
    tree = pilot.app.screen.query_one(Tree)
    server = tree.root.children[0]
    node = next(n for n in server.children if (n.data[1].path or "").endswith("authorized_keys"))
    tree.move_cursor(node)
    await _steady(pilot)


def test_review_at_80x24_with_a_wrapped_key_line_snapshot(snap_compare, tmp_path: Path):
    assert snap_compare(_app(tmp_path, 4), terminal_size=(80, 24), run_before=_on_authorized_keys)


@pytest.mark.parametrize("step,name", [(2, "clients"), (3, "retention"), (6, "done")])
def test_step_at_80x24_snapshot(snap_compare, tmp_path: Path, step: int, name: str):
    assert snap_compare(_app(tmp_path, step), terminal_size=(80, 24), run_before=_steady)
