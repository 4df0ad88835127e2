"""Pilot tests of the wizard's fields and keys: help with a field focused, plain palette
text, renaming a client, a client's own retention and quota, validation messages that name
the client and the cron field, and a negative retention never reaching the preview."""

from __future__ import annotations

from pathlib import Path

from conftest import fixed_state
from textual.widgets import Button, DataTable, Input

from screens.app import BorgkeepApp
from screens.base import FieldInput, join_words, split_words
from screens.clients import ClientsScreen
from screens.modals import HelpModal
from screens.retention import RetentionScreen
from wizard.inventory.settings import suggested_quota

SIZE = (100, 36)


def clients_app(tmp_path: Path) -> tuple[BorgkeepApp, object]:
    state = fixed_state(tmp_path)
    return BorgkeepApp(state.inventory_path, state=state, start_step=2), state


async def test_help_opens_with_a_field_focused_and_question_mark_stays_text_in_paths(tmp_path):
    app, state = clients_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        name = screen.query_one("#client-name", Input)
        name.focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpModal)
        assert name.value == "host1"
        await pilot.press("escape")
        sources = screen.query_one("#sources", Input)
        sources.focus()
        await pilot.press("end", "question_mark")
        assert not isinstance(app.screen, HelpModal)
        assert sources.value == "/etc /home?"  # a glob character here, not the help key
        await pilot.press("f1")
        assert isinstance(app.screen, HelpModal)
        await pilot.press("escape")
        await pilot.press("backspace")
        assert state.clients[0].source_directories == ["/etc", "/home"]


async def test_every_step_opens_its_help_with_f1_and_question_mark(tmp_path):
    for step in (0, 1, 2, 3, 4, 6):  # apply (5) needs a session: see test_apply_screen.py
        state = fixed_state(tmp_path)
        app = BorgkeepApp(state.inventory_path, state=state, start_step=step)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            first = app.screen
            for key in ("f1", "question_mark"):
                await pilot.press(key)
                assert isinstance(app.screen, HelpModal), (step, key, first)
                await pilot.press("escape")
                assert app.screen is first


async def test_the_command_palette_shows_plain_help_text(tmp_path):
    app, _ = clients_app(tmp_path)
    async with app.run_test(size=SIZE):
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        help_text = commands["Help for this step"]
        assert "**" not in help_text and "`" not in help_text
        assert help_text.startswith("Tick the clients from your ~/.ssh/config (space)")


async def test_rename_a_client(tmp_path):
    app, state = clients_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        name = screen.query_one("#client-name", FieldInput)
        name.focus()
        await pilot.press("ctrl+u", *"Web 1")
        error = str(screen.query_one("#client-name-error").render())
        assert "name of the client at root@host1.lan: 'Web 1' is not a valid name" in error
        assert state.clients[0].name == "host1"  # the last valid name stays
        assert screen.query_one("#next", Button).disabled
        assert "fix: name of the client at root@host1.lan" in str(
            screen.query_one("#nav-status").render()
        )
        await pilot.press("ctrl+u", *"host2")
        assert "another client is already called 'host2'" in str(
            screen.query_one("#client-name-error").render()
        )
        await pilot.press("ctrl+u", *"nas")
        assert "is the server's name" in str(screen.query_one("#client-name-error").render())
        await pilot.press("ctrl+u", *"web-1")
        assert state.clients[0].name == "web-1"
        table = screen.query_one("#clients-table", DataTable)
        assert table.get_row_at(0)[0] == "web-1"
        assert str(screen.query_one("#detail-title").render()) == "web-1 (root@host1.lan)"
        assert not screen.query_one("#next", Button).disabled
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, RetentionScreen)
        assert [c.name for c in state.to_inventory().clients] == ["web-1", "host2"]


async def test_renaming_a_saved_client_says_what_it_means(tmp_path):
    state = fixed_state(tmp_path)
    for client in state.clients:
        client.saved_name = client.name
    app = BorgkeepApp(state.inventory_path, state=state, start_step=2)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#client-name", Input).focus()
        await pilot.press("ctrl+u", *"web-1")
        hint = str(screen.query_one("#rename-hint").render())
        assert "Was host1 in the saved inventory" in hint and "new repository" in hint


async def test_a_clients_own_retention_excludes_and_quota(tmp_path):
    app, state = clients_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        daily = screen.query_one("#own-keep_daily", FieldInput)
        assert daily.placeholder == "7"  # the fleet's value shows through
        daily.focus()
        await pilot.press("minus", *"14")
        assert daily.value == "14"  # a minus sign cannot even be typed
        assert state.clients[0].retention == {"keep_daily": 14}
        quota = screen.query_one("#quota", FieldInput)
        quota.focus()
        await pilot.press(*"5M")
        error = str(screen.query_one("#quota-error").render())
        assert "host1's storage quota: 5M is below Borg's minimum quota of 10M" in error
        assert state.clients[0].quota is None
        await pilot.press("ctrl+g")
        expected = suggested_quota(512 * 1024**3, 2)
        assert quota.value == expected == "219G"
        assert state.clients[0].quota == "219G"
        hint = str(screen.query_one("#quota-hint").render())
        assert "suggested 219G" in hint and "/backups" in hint
        inventory = state.to_inventory()
        assert inventory.clients[0].quota == "219G"
        assert inventory.clients[0].retention == {"keep_daily": 14}


async def test_own_retention_that_keeps_nothing_is_refused_next_to_the_field(tmp_path):
    app, state = clients_app(tmp_path)
    state.retention = {"keep_daily": 7}
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#own-keep_daily", Input).focus()
        await pilot.press("0")
        error = str(screen.query_one("#own-keep_daily-error").render())
        assert "host1's keep_daily: with these numbers the client keeps no archive" in error
        assert screen.query_one("#next", Button).disabled


async def test_validation_names_the_client_and_the_cron_field(tmp_path):
    state = fixed_state(tmp_path)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=3)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RetentionScreen)
        schedule = screen.query_one("#schedule-1", Input)
        schedule.focus()
        await pilot.press(*"0 25 * * *")
        error = str(screen.query_one("#schedule-1-error").render())
        assert error == "✗ host2's backup schedule: hour 25 is out of range 0-23"
        assert "schedule-1" not in error
        assert screen.query_one("#next", Button).disabled
        assert "fix: host2's backup schedule" in str(screen.query_one("#nav-status").render())
        await pilot.press("ctrl+u", *"*/0 3 * * *")
        assert "minute step in '*/0' must be at least 1" in str(
            screen.query_one("#schedule-1-error").render()
        )
        await pilot.press("ctrl+u")
        assert not screen.query_one("#schedule-1-error").display
        assert not screen.query_one("#next", Button).disabled


async def test_a_negative_retention_never_reaches_the_preview(tmp_path):
    state = fixed_state(tmp_path)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=3)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        daily = screen.query_one("#keep_daily", Input)
        daily.focus()
        await pilot.press("ctrl+u", "minus", "3")
        assert daily.value == "3"
        daily.value = "-3"  # pasted or set some other way: still refused
        await pilot.pause()
        preview = str(screen.query_one("#retention-preview").render())
        assert preview.startswith("No preview until the numbers are fixed: keep_daily:")
        assert "survive" not in preview
        assert screen.query_one("#next", Button).disabled


def test_words_split_and_join_round_trip():
    words = ["/etc", "/srv/my data", "/srv/it's", '/a "b"', "/x,y", "*.t?p"]
    assert split_words(join_words(words)) == words
    assert split_words("/etc, /home") == ["/etc", "/home"]
