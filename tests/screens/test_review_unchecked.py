"""The review of a plan with a client that could not be reached (issue 25, item 3): the
diff pane never says "nothing to change" for the fleet; it says how many hosts were checked
and which one was not, the summary names it, and the confirmation says it is not configured."""

from __future__ import annotations

from conftest import fixed_state
from textual.widgets import Static

from screens.app import BorgkeepApp
from screens.review import ReviewScreen
from screens.review_texts import confirmation_text
from tests.test_plan_unchecked_hosts import REFUSED, empty_plan_without_host2, scripted_session

SIZE = (100, 36)


async def test_the_review_of_an_empty_plan_names_the_host_it_could_not_check(tmp_path):
    state = fixed_state(tmp_path)
    state.session = scripted_session(empty_plan_without_host2(), {"host2": REFUSED})
    state.plan = state.session.plan()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=4)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        diff = str(screen.query_one("#diff", Static).render())
        assert "Nothing to change" not in diff and "desired state" not in diff
        assert diff.startswith("No change planned for the 2 hosts checked; 1 host could not")
        assert f"host2 (unreachable: {REFUSED})" in diff
        summary = str(screen.query_one("#plan-summary", Static).render())
        assert "host2: not checked (unreachable)" in summary
        warnings = str(screen.query_one("#plan-warnings", Static).render())
        assert "host2 is unreachable and will NOT be configured" in warnings
        assert "Unreachable, NOT configured: host2." in confirmation_text(app.state)


async def test_an_empty_lifecycle_plan_names_the_client_it_could_not_check(tmp_path, monkeypatch):
    from tests.screens.test_lifecycle_screens import app_on_clients, open_action
    from wizard.pipeline.lifecycle.request import LifecyclePlan, LifecycleRequest
    from wizard.pipeline.plan import Plan

    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_action(pilot, app, "remove")
        empty = Plan([], [], {}, ["nas"], unchecked={"host1": REFUSED})
        screen._show_plan(LifecyclePlan(LifecycleRequest("remove", "host1"), empty))
        await pilot.pause()
        notes = str(screen.query_one("#lc-notes", Static).render())
        assert "Nothing to do" not in notes
        assert notes.startswith("No change planned for the 1 host checked; 1 host could not")
