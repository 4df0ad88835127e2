"""The wizard's rough edges a newcomer hit (issue 26), each pinned by a Pilot test: bars and
counts that add up, Back up now after a cancelled apply, Next steps after a backup, the
apply confirmation's default, the wizard's exit message, the footer at 80×24, wrapped diff
lines and commands that keep their marks, a purge box that is visibly empty, and the
welcome screen of a server nothing was applied to yet."""

from __future__ import annotations

from collections import Counter

from conftest import fixed_state
from test_done_backups import FakeFleet, done_app, settle, text
from test_review_and_apply import leaf, review_app, scripted_session
from test_welcome_status import loaded, rerun_app, serve
from textual.app import App, ComposeResult
from textual.widgets import Button, ProgressBar, Tree
from textual.widgets._footer import FooterKey

from screens.app import BorgkeepApp, exit_message
from screens.apply import ApplyScreen
from screens.base import StepFooter, TickBox
from screens.client_status import ClientStatusModal, shell_words
from screens.diff_view import DiffView, mark_continuations
from screens.modals import ConfirmModal
from tests.planning import server_facts
from wizard.pipeline import day_two
from wizard.pipeline.apply import ApplyResult, HostOutcome
from wizard.session import FleetSession

SIZE = (100, 36)
SESSION_STATUS = FleetSession.status  # the real one: the screens' conftest stands one in


async def until(pilot, condition, what: str, tries: int = 600) -> None:
    for _ in range(tries):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_bars_count_every_change_even_two_with_one_title(tmp_path):
    session = scripted_session()
    state = fixed_state(tmp_path)
    state.session, state.plan = session, session.plan()
    titles = Counter(c.title for c in state.plan.for_host("nas"))
    assert max(titles.values()) > 1  # two `run init-guard`: the case that stuck at 96%
    app = BorgkeepApp(state.inventory_path, state=state, start_step=5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: state.apply_result is not None, "the apply")
        overall = screen.query_one("#overall", ProgressBar)
        assert overall.total == len(state.plan.changes) and overall.percentage == 1
        for host, bar in screen.bars.items():
            assert bar.total == len(state.plan.for_host(host)) and bar.percentage == 1
        assert "All changes applied." in text(screen, "#apply-result")


async def test_a_cancelled_apply_counts_add_up_to_the_hosts_changes(tmp_path):
    session = scripted_session(step_seconds=0.2)
    state = fixed_state(tmp_path)
    state.session, state.plan = session, session.plan()
    app = BorgkeepApp(state.inventory_path, state=state, start_step=5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ApplyScreen)
        await until(pilot, session.started.is_set, "the first step")
        await pilot.pause(0.3)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: state.apply_result is not None, "the cancelled apply")
        statuses = {}
        for index, host in enumerate(screen.bars):
            outcome = state.apply_result.outcomes[host]
            total = len(state.plan.for_host(host))
            assert len(outcome.done) + len(outcome.skipped) == total
            statuses[host] = text(screen, f"#status-{index}")
            if outcome.skipped:
                assert statuses[host] == (
                    f"{len(outcome.done)} of {total} done, {len(outcome.skipped)} skipped"
                )
        assert any("skipped" in status for status in statuses.values()), statuses
        assert app.return_value is None
        await pilot.press("ctrl+n")  # to the done screen, then Finish
        await pilot.pause()
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.return_value is not None, "the exit")
    assert app.return_value == 1
    message = exit_message(state)
    assert message.startswith("borgkeep: the apply was cancelled; ")
    assert "the inventory not saved" in message and "Run borgkeep again" in message


def test_the_wizard_exits_1_only_with_a_message(tmp_path):
    state = fixed_state(tmp_path)
    assert exit_message(state) is None  # never applied: exit 0
    state.apply_result = ApplyResult({"nas": HostOutcome("nas", done=["run create-user"])})
    assert exit_message(state) is None
    state.apply_error = "Apply stopped: nas: connection lost"
    assert exit_message(state) == (
        "borgkeep: Apply stopped: nas: connection lost; the inventory was not saved."
    )


async def test_after_a_cancelled_apply_b_says_why_nothing_backs_up(tmp_path):
    session = FakeFleet()
    app = done_app(tmp_path, session)
    app.state.apply_result = ApplyResult(
        {name: HostOutcome(name, skipped=["create crontab:root"]) for name in ("host1", "host2")}
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.query_one("#first-backups", Button).disabled
        hint = text(screen, "#backups-hint")
        assert hint.startswith("Back up now is off: the apply was cancelled, so no client")
        await pilot.press("b")
        await pilot.pause()
        assert session.backed_up == []
        assert [n.message for n in app._notifications] == [hint]


async def test_next_steps_after_back_up_now_no_longer_announce_the_first_backup(tmp_path):
    session = FakeFleet()
    app = done_app(tmp_path, session)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert "• first backup of host1: " in text(screen, "#next-steps")
        await pilot.press("b")
        await settle(pilot, lambda: session.verified == 1 and screen.busy is None)
        steps = text(screen, "#next-steps")
        assert "• host1 backed up now (Back up now); next backup: " in steps
        assert "first backup of host1" not in steps
        assert "• first backup of host2: " in steps  # its backup failed: cron's is the first


async def test_the_apply_confirmation_starts_on_no_and_says_so(tmp_path):
    app, _state = review_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query("#plan-tree"), "the plan")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        modal = app.screen
        assert modal.focused is modal.query_one("#no", Button)
        assert text(modal, "#dialog-keys") == (
            "No is selected: enter, n or escape answers No; y (or tab, then enter) answers Apply."
        )
        assert modal.query_one("#dialog-keys").region.bottom <= 24
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmModal) and _state.apply_result is None


def footer_keys(app) -> dict[str, FooterKey]:
    return {key.action: key for key in app.screen.query_one(StepFooter).query(FooterKey)}


async def test_at_80x24_every_footer_key_shows_quit_included(tmp_path):
    state = fixed_state(tmp_path)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=2)  # Clients
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = footer_keys(app)
        assert {"quit", "check_all", "suggest_quota", "client_actions"} <= set(keys)
        assert all(key.region.right <= 80 and key.region.width > 0 for key in keys.values())
        assert "command_palette" not in keys  # ctrl+p still works; its hint made room
    app, _ = review_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query("#plan-tree"), "the plan")
        keys = footer_keys(app)
        assert keys["quit"].region.right <= 80 and keys["quit"].region.width > 0
    app = BorgkeepApp(state.inventory_path, state=state, start_step=3)  # room for the hint
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        assert "command_palette" in footer_keys(app)


def test_a_wrapped_diff_line_keeps_its_mark_on_every_piece():
    line = "+" + "x" * 25
    assert mark_continuations(f"{line}\n short\nrestore it somewhere long", 10).splitlines() == [
        "+xxxxxxxxx",
        "+↪xxxxxxxx",
        "+↪xxxxxxxx",
        " short",
        "restore it somewhere long",  # a description wraps at its spaces, unmarked
    ]


async def test_the_review_wraps_a_key_line_with_its_mark(tmp_path):
    app, _ = review_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query("#plan-tree"), "the plan")
        tree = app.screen.query_one(Tree)
        tree.move_cursor(leaf(tree, "nas", "/.ssh/authorized_keys"))
        await pilot.pause()
        diff = app.screen.query_one("#diff", DiffView)
        await until(pilot, lambda: "+↪" in diff.render().plain, "the marked wrap")
        shown = diff.render().plain.splitlines()
        width = diff.content_region.width
        assert all(len(line) <= width for line in shown)
        key_lines = [ln for ln in diff.diff_text.splitlines() if "borgkeep:host1" in ln]
        assert key_lines and key_lines[0].startswith("+")
        start = next(i for i, ln in enumerate(shown) if key_lines[0].startswith(ln))
        pieces = [shown[start]]
        for piece in shown[start + 1 :]:
            if not piece.startswith("+↪"):
                break
            pieces.append(piece[2:])
        assert len(pieces) > 1 and "".join(pieces) == key_lines[0]


async def test_what_to_do_at_80x24_shows_each_command_whole(tmp_path, monkeypatch):
    from conftest import fixed_status

    serve(monkeypatch, fixed_status)
    app = rerun_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ClientStatusModal), "the dialog")
        await pilot.pause()
        modal = app.screen
        dialog = modal.query_one("#dialog")
        commands = list(modal.query(".command"))
        assert commands
        wrapped = 0
        for view in commands:
            shown = str(view.render())
            assert view.region.right <= dialog.region.right - 1, shown
            lines = shown.splitlines()
            wrapped += len(lines) > 1
            assert all(line.endswith(" \\") for line in lines[:-1])
            assert shell_words(shown.replace(" \\\n", " ")) == shell_words(view.command_text)
        assert wrapped  # at 80 columns, some command is longer than the dialog


class Boxes(App):
    def compose(self) -> ComposeResult:
        yield TickBox("Also delete its repository", id="purge", compact=True)


async def test_the_unticked_purge_box_is_empty_not_only_another_colour():
    app = Boxes()
    async with app.run_test(size=(60, 3)) as pilot:
        box = app.query_one(TickBox)
        assert str(box.render()).startswith("▐ ▌")
        await pilot.click("#purge")
        assert box.value and str(box.render()).startswith("▐X▌")


async def test_the_remove_screen_uses_the_box_that_shows_its_state(tmp_path, monkeypatch):
    from test_lifecycle_screens import app_on_clients, open_action

    app, _ = app_on_clients(tmp_path, monkeypatch)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_action(pilot, app, "remove")
        box = screen.query_one("#purge")
        assert isinstance(box, TickBox) and str(box.render()).startswith("▐ ▌")


async def test_a_server_never_applied_says_so_on_the_welcome_screen(tmp_path, monkeypatch):
    class Connection:
        def run(self, script, **options):
            raise AssertionError("nothing runs as a user that does not exist")

    monkeypatch.setattr(FleetSession, "status", SESSION_STATUS)
    monkeypatch.setattr(FleetSession, "_connect", lambda self, name: Connection())
    monkeypatch.setattr(day_two, "gather_basic", lambda conn, host, users=(): server_facts())
    app = rerun_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        message = text(app.screen, "#status-message")
        assert "nothing is set up there yet (no user borg" in message
        assert "runuser" not in message and "does not exist" not in message
