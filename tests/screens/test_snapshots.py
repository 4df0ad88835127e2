"""Fixed-size SVG snapshots of the key screens, from fixed data (no network, no animation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fixed_report, fixed_state
from textual.widgets import Input, Tree

from screens.app import BorgkeepApp
from tests.planning import fresh_fleet
from wizard.inventory.model import save_inventory

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


def test_welcome_rerun_snapshot(snap_compare, tmp_path: Path):
    path = tmp_path / "inventory.yaml"
    save_inventory(fresh_fleet()[0], path)
    app = BorgkeepApp(path)
    app.state.inventory_path = Path("/home/operator/.config/borgkeep/inventory.yaml")
    assert snap_compare(app, terminal_size=SIZE, run_before=_steady)


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
