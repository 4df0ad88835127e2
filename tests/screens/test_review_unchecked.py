"""The review of a plan with a client that could not be reached (issue 25, item 3): the
diff pane never says "nothing to change" for the fleet; it says how many hosts were checked
and which one was not, the summary names it, and the confirmation says it is not configured."""

from __future__ import annotations

from conftest import fixed_state
from textual.widgets import Static

from screens.app import BorgkeepApp
from screens.review import ReviewScreen
from tests.test_plan_unchecked_hosts import REFUSED, converged_without_host2, scripted_session

SIZE = (100, 36)


async def test_the_review_of_an_empty_plan_names_the_host_it_could_not_check(tmp_path):
    state = fixed_state(tmp_path)
    state.session = scripted_session(*converged_without_host2(), {"host2": REFUSED})
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
        assert "Unreachable, NOT configured: host2." in screen.confirmation_text()
