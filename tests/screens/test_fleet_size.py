"""The wizard at a hundred clients, by structure (timings are tests/bench/bench_tui.py's):
the review's tree measures its rows without rendering them, so a key renders only the rows
on screen; the clients table takes one row for a client added or removed, the other rows
untouched; the welcome's health table has a row per client and a key moves one cursor."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from conftest import fixed_state, fixed_status
from rich.style import Style
from test_plan_viewer import HOSTS, PER_HOST, hundred_hosts_plan
from textual.widgets import DataTable, Input, Static, Tree

from screens import client_checks
from screens.app import BorgkeepApp
from screens.clients import ClientsScreen
from screens.plan_viewer import PlanTree
from screens.state import ClientEntry
from screens.welcome import WelcomeScreen
from tests.planning import client_facts
from wizard.inventory.model import save_inventory
from wizard.inventory.parse import parse_inventory
from wizard.pipeline.status import StatusReport

SIZE = (100, 32)
NAMES = [f"c{i:03d}" for i in range(100)]


async def test_the_review_tree_measures_its_rows_and_renders_only_those_on_screen(
    tmp_path, monkeypatch
):
    rendered: list[object] = []
    real = Tree.render_label

    def counting(self, node, base_style, style):
        rendered.append(node)
        return real(self, node, base_style, style)

    monkeypatch.setattr(Tree, "render_label", counting)
    state = fixed_state(tmp_path)
    state.plan = hundred_hosts_plan()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=4)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = app.screen.query_one("#plan-tree", PlanTree)
        lines = len(HOSTS) * (PER_HOST + 1) + 1
        assert tree.last_line == lines - 1
        every_node = [tree.get_node_at_line(line) for line in range(lines)]
        assert [tree.get_label_width(node) for node in every_node] == [
            real(tree, node, Style(), Style()).cell_len for node in every_node
        ]  # the widths measured are the widths rendered
        for keys in (("down", "down", "down"), ("m",), ("escape",), ("w",)):
            rendered.clear()
            await pilot.press(*keys)
            await pilot.pause()
            assert len(rendered) <= 3 * SIZE[1]  # rows on screen (redrawn), not 700
            # the tree is redrawn when its cursor moves and when it is shown again
            assert bool(rendered) is (keys[0] in ("down", "escape"))


async def test_adding_or_removing_a_client_touches_one_row_of_a_hundred(tmp_path, monkeypatch):
    monkeypatch.setattr(client_checks, "probe_client", lambda name, *a, **k: client_facts(name))
    state = fixed_state(tmp_path)
    state.clients = [
        ClientEntry(name, f"root@{name}.lan", facts=client_facts(name)) for name in NAMES
    ]
    app = BorgkeepApp(state.inventory_path, state=state, start_step=2)
    async with app.run_test(size=(100, 36)) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        table = screen.query_one("#clients-table", DataTable)
        await pilot.pause()
        assert [key.value for key in table.rows] == [c.key for c in state.clients]
        rows = dict(table.rows)
        cleared = []
        monkeypatch.setattr(table, "clear", lambda *a, **k: cleared.append(a))
        field = screen.query_one("#new-client", Input)
        field.focus()
        await pilot.press(*"root@new.lan", "enter")
        await pilot.pause()
        assert not cleared and table.row_count == len(NAMES) + 1
        assert all(table.rows[key] is row for key, row in rows.items())  # the same rows
        added = state.clients[-1]
        assert added.ssh == "root@new.lan" and table.cursor_row == len(NAMES)
        assert table.get_row(added.key)[:2] == [added.name, "root@new.lan"]
        assert screen.selected == added.key
        table.focus()
        table.move_cursor(row=50)
        await pilot.pause()
        gone = state.clients[50]
        await pilot.press("delete")
        await pilot.pause()
        assert gone not in state.clients and not cleared
        assert [key.value for key in table.rows] == [c.key for c in state.clients]
        assert table.cursor_row == 0 and screen.selected == state.clients[0].key


def hundred_clients_status() -> StatusReport:
    """conftest's report with a hundred clients, every one as its ok client web1."""
    report = fixed_status()
    ok = next(client for client in report.clients if client.state == "ok")
    return replace(report, clients=tuple(replace(ok, name=name) for name in NAMES))


async def test_the_health_table_has_a_row_per_client_and_a_key_moves_one_cursor(
    tmp_path, monkeypatch
):
    path = tmp_path / "inventory.yaml"
    clients = "".join(
        f"  - {{name: {name}, ssh: root@{name}.lan, source_directories: [/etc]}}\n"
        for name in NAMES
    )
    save_inventory(
        parse_inventory(
            "version: 1\nserver: {name: nas, ssh: root@nas.lan, repo_root: /srv/backups}\n"
            f"retention: {{keep_daily: 7}}\nclients:\n{clients}"
        ),
        path,
    )
    app = BorgkeepApp(path)
    app.state.now = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    app.state.status = hundred_clients_status()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WelcomeScreen)
        table = screen.query_one("#status-table", DataTable)
        assert table.row_count == len(NAMES)
        assert [key.value for key in table.rows] == NAMES
        rows = dict(table.rows)
        await pilot.press("down")
        assert table.cursor_row == 1
        assert str(screen.query_one("#status-detail", Static).render()).startswith("c001: ok")
        assert all(table.rows[key] is row for key, row in rows.items())
