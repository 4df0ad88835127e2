"""The plan viewer shared by the review and the lifecycle screens: a plan of a hundred hosts
is all in the tree while only the highlighted change's diff is rendered; the lifecycle's
diff maximises and restores like the review's."""

from __future__ import annotations

from conftest import fixed_state
from textual.widgets import Static, Tree

import screens.diff_view
from screens.app import BorgkeepApp
from screens.plan_viewer import DiffBox, PlanViewer
from screens.review import ReviewScreen
from tests.screens.test_lifecycle_screens import app_on_clients, open_action
from wizard.session import Change, Plan

HOSTS = [f"host{i:03d}" for i in range(100)]
PER_HOST = 6


def hundred_hosts_plan() -> Plan:
    """Six file updates on each of a hundred clients, each with a long diff of its own."""
    changes = [
        Change(
            host,
            3,
            "file",
            "update",
            f"/etc/app/{n}.conf",
            "a config",
            diff="".join(f"-{host} {n} old {k}\n+{host} {n} new {k}\n" for k in range(150)),
        )
        for host in HOSTS
        for n in range(PER_HOST)
    ]
    return Plan(changes, [], {}, ["nas", *HOSTS])


async def test_a_hundred_hosts_are_in_the_tree_and_only_the_highlighted_diff_is_drawn(
    tmp_path, monkeypatch
):
    rendered: list[str] = []
    real = screens.diff_view.render_diff_text

    def counting(text: str, width: int | None = None):
        rendered.append(text)
        return real(text, width)

    monkeypatch.setattr(screens.diff_view, "render_diff_text", counting)
    state = fixed_state(tmp_path)
    state.plan = hundred_hosts_plan()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=4)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        tree = screen.query_one("#plan-tree", Tree)
        hosts = tree.root.children
        assert [node.data[1] for node in hosts] == ["nas", *HOSTS]
        assert sum(len(node.children) for node in hosts) == len(HOSTS) * PER_HOST
        first = state.plan.changes[0]
        assert screen.shown is first and set(rendered) == {first.diff}
        far = hosts[50].children[4]
        tree.move_cursor(far)
        await pilot.pause()
        assert screen.shown is far.data[1]
        assert set(rendered) == {first.diff, far.data[1].diff}
        title = str(screen.query_one("#diff-title", Static).render())
        assert title.startswith("host049: update /etc/app/4.conf")


async def test_the_lifecycle_diff_maximises_focused_and_restores_to_the_tree(tmp_path, monkeypatch):
    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_action(pilot, app, "remove")
        viewer = screen.query_one(PlanViewer)
        box = screen.query_one("#lc-diff-box", DiffBox)
        assert viewer.shown is not None
        title = screen.query_one("#lc-diff-title", Static)
        assert "maximise (m)" in str(title.render())
        await pilot.press("m")
        assert screen.maximized is box and screen.focused is box
        assert "restore (m)" in str(title.render())
        await pilot.press("escape")
        assert screen.maximized is None and screen.focused is viewer.tree
        assert "maximise (m)" in str(title.render())
        assert app.screen is screen  # escape restored the diff; the screen stays open
