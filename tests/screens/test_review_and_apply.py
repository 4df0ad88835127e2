"""Pilot tests of the review's diff view (wrap, maximise, full headings, saving the plan) and
of the apply screen with a scripted session: real shares on the bars, cancelled steps
skipped, Cancel gone and the log at its end afterwards, and the inventory saved only after
a complete apply."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import fixed_state
from textual.widgets import Button, ProgressBar, RichLog, Static, Tree

from screens.app import BorgkeepApp
from screens.apply import ApplyScreen
from screens.done import DoneScreen
from screens.modals import HelpModal, PathModal
from screens.plan_viewer import DiffBox
from screens.review import ReviewScreen
from tests.planning import fresh_fleet
from wizard.pipeline.apply import ApplyResult, HostOutcome
from wizard.session import FleetSession, load_saved_plan

SIZE = (100, 36)


class ScriptedSession(FleetSession):
    """A FleetSession on hand-made facts whose apply only reports events: each change takes
    `step_seconds`, and a set cancel skips the rest, like the executor."""

    step_seconds = 0.0
    started: threading.Event

    def apply_reviewed(self, reviewed, cancel=None):
        outcomes = {host: HostOutcome(host) for host in reviewed.hosts}
        for host in reviewed.hosts:
            self.on_event(host, "step", "gathering facts")
            self.on_event(host, "done", "facts gathered")  # must not move a bar
        self.started.set()
        for change in reviewed.changes:
            outcome = outcomes[change.host]
            if cancel is not None and cancel.is_set():
                outcome.skipped.append(change.title)
                self.on_event(change.host, "skip", f"skipped {change.title} (cancelled)")
                continue
            self.on_event(change.host, "step", change.title)
            time.sleep(self.step_seconds)
            outcome.done.append(change.title)
            self.on_event(change.host, "done", change.title)
        return ApplyResult(outcomes, {}, self.store.location)


def scripted_session(step_seconds: float = 0.0) -> ScriptedSession:
    inventory, settings, facts, passphrases = fresh_fleet()
    session = ScriptedSession(inventory)
    session.settings, session.facts, session.passphrases = settings, facts, passphrases
    session.step_seconds = step_seconds
    session.started = threading.Event()
    return session


def review_app(tmp_path: Path, session=None) -> tuple[BorgkeepApp, object]:
    state = fixed_state(tmp_path)
    state.session = session or scripted_session()
    state.plan = state.session.plan()
    return BorgkeepApp(state.inventory_path, state=state, start_step=4), state


def leaf(tree: Tree, host: str, suffix: str):
    host_node = next(n for n in tree.root.children if n.data[1] == host)
    return next(n for n in host_node.children if (n.data[1].path or "").endswith(suffix))


async def test_key_lines_wrap_config_files_scroll_and_the_diff_maximises(tmp_path):
    app, _ = review_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        tree = screen.query_one(Tree)
        diff = screen.query_one("#diff", Static)
        tree.move_cursor(leaf(tree, "nas", "/.ssh/authorized_keys"))
        await pilot.pause()
        title = str(screen.query_one("#diff-title").render())
        assert title.startswith("nas: create /home/borg/.ssh/authorized_keys")
        assert "wrap on (w)" in title
        assert diff.has_class("-wrap")
        box = screen.query_one(DiffBox)
        lines = len(diff.diff_text.splitlines())
        # wrapped inside the pane (taller than its lines), not cut at its edge
        assert diff.size.width <= box.scrollable_content_region.width
        assert diff.size.height > lines
        tree.move_cursor(leaf(tree, "host1", "borgkeep-host1.yaml"))
        await pilot.pause()
        assert not diff.has_class("-wrap")
        await pilot.pause()
        assert diff.size.width > box.scrollable_content_region.width  # scrolls sideways
        assert str(screen.query_one("#diff-title").render()).startswith(
            "host1: create /etc/borgkeep/borgkeep-host1.yaml"
        )
        await pilot.press("w")
        assert diff.has_class("-wrap")
        await pilot.press("w")
        assert not diff.has_class("-wrap")
        crontab = next(n for n in tree.root.children[0].children if n.data[1].kind == "crontab")
        assert str(crontab.label) == "new crontab of borg"
        tree.move_cursor(crontab)
        await pilot.pause()
        assert str(screen.query_one("#diff-title").render()).startswith(
            "nas: create crontab of borg"
        )
        await pilot.press("m")
        assert screen.maximized is box and screen.focused is box
        assert "restore (m or esc)" in str(screen.query_one("#diff-title").render())
        await pilot.press("escape")
        assert screen.maximized is None and screen.focused is tree
        assert isinstance(app.screen, ReviewScreen)  # escape restored, it did not go back
        await pilot.press("m", "m")
        assert screen.maximized is None
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpModal)


async def test_the_tree_never_cuts_a_path(tmp_path):
    app, state = review_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        tree = app.screen.query_one(Tree)
        labels = [str(leaf.label) for host in tree.root.children for leaf in host.children]
        assert "…" not in "".join(labels)
        assert "new prune-host1.yaml" in labels and "new authorized_keys" in labels


async def test_save_the_plan_from_the_review(tmp_path):
    app, state = review_app(tmp_path)
    plan_path = tmp_path / "saved" / "reviewed.plan"
    plan_path.parent.mkdir()
    async with app.run_test(size=SIZE) as pilot:
        tree = app.screen.query_one(Tree)
        tree.move_cursor(tree.root.children[2])
        await pilot.press("x")
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PathModal)
        field = app.screen.query_one("#path")
        assert field.value == str(tmp_path / "borgkeep.plan")
        field.value = str(plan_path)
        await pilot.press("enter")
        await pilot.pause()
    saved = load_saved_plan(plan_path)
    assert saved.inventory_path == state.inventory_path.resolve()
    assert saved.left_out == {"host2"}
    session = state.session
    session.check_saved_plan(saved, session.plan(leave_out=saved.left_out))  # no mismatch
    assert state.inventory_path.exists()


async def test_cancelled_apply_skips_the_rest_and_does_not_save_the_inventory(tmp_path):
    session = scripted_session(step_seconds=0.2)  # slow enough for a loaded machine
    state = fixed_state(tmp_path)
    state.session, state.plan = session, session.plan()
    total = {host: len(state.plan.for_host(host)) for host in state.plan.hosts}
    app = BorgkeepApp(state.inventory_path, state=state, start_step=5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ApplyScreen)
        for _ in range(100):
            if session.started.is_set():
                break
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        await pilot.press("ctrl+c")
        for _ in range(300):
            if state.apply_result is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        result = state.apply_result
        assert result is not None and not result.ok
        assert not state.inventory_path.exists()
        assert not state.inventory_saved
        assert not screen.query_one("#cancel", Button).display
        text = str(screen.query_one("#apply-result").render())
        finish = (
            "To finish: save the inventory (ctrl+s on the next screen), then run "
            f"`borgkeep --inventory {state.inventory_path} apply` or this wizard again: the "
            "plan picks up where this one stopped"
        )
        assert text.splitlines() == [
            "Interrupted: the step in progress was finished, the rest skipped.",
            "The inventory was NOT saved: the apply was cancelled.",
            finish,
        ]
        lines = screen.query_one("#apply-log", RichLog).lines
        logged = " ".join(" ".join(line.text for line in lines).split())  # unwrapped
        # The log wraps a long path mid-word ("invento ry.yaml"): compare without spaces.
        assert "".join(logged.split()).endswith("".join(finish.split()))  # the CLI's words
        for host, outcome in result.outcomes.items():
            if outcome.done:
                assert f"✓ {host}: done: {'; '.join(outcome.done)}" in logged
            if outcome.skipped:
                assert f"- {host}: skipped: {'; '.join(outcome.skipped)}" in logged
        for index, host in enumerate(screen.bars):
            outcome = result.outcomes[host]
            bar = screen.query_one(f"#bar-{index}", ProgressBar)
            assert bar.progress == len(outcome.done)  # the real share, gather not counted
            status = str(screen.query_one(f"#status-{index}").render())
            if outcome.skipped:
                assert bar.percentage < 1
                assert f"{len(outcome.skipped)} skipped" in status
        assert any(result.outcomes[h].skipped for h in total)
        log = screen.query_one("#apply-log", RichLog)
        assert log.scroll_y == log.max_scroll_y
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, DoneScreen)
        assert "Inventory: NOT saved" in str(app.screen.query_one("#saved").render())
        assert "step(s) skipped" in str(app.screen.query_one("#next-steps").render())


async def test_complete_apply_saves_the_inventory_and_fills_the_bars(tmp_path):
    session = scripted_session()
    state = fixed_state(tmp_path)
    state.session, state.plan = session, session.plan()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for _ in range(300):
            if state.apply_result is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        assert state.apply_result.ok
        assert state.inventory_path.exists() and state.inventory_saved
        assert all(bar.percentage == 1 for bar in screen.bars.values())
        assert str(screen.query_one("#status-0").render()) == "done"
        assert not screen.query_one("#cancel", Button).display
        assert "Inventory saved to" in str(screen.query_one("#apply-result").render())
