"""The Clients screen refuses a client that logs in where another client (or the server)
already does — ticked from ~/.ssh/config or typed — naming it (issue 25, item 5); and an
inventory that lists one host twice is never saved by the wizard."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fixed_state
from textual.widgets import Input, SelectionList

from screens import client_checks
from screens.app import BorgkeepApp
from screens.clients import ClientsScreen
from screens.state import ClientEntry
from tests.planning import client_facts
from wizard.inventory.validation import InventoryError

SIZE = (100, 36)


def messages(app) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_a_second_entry_for_one_login_is_refused_naming_the_first(tmp_path, monkeypatch):
    monkeypatch.setattr(client_checks, "probe_client", lambda name, *a, **k: client_facts(name))
    state = fixed_state(tmp_path)  # host1 is root@host1.lan; the ssh config's alias host1 too
    app = BorgkeepApp(state.inventory_path, state=state, start_step=2)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        picker = screen.query_one("#config-clients", SelectionList)
        picker.select("host1")
        await pilot.pause()
        assert [c.name for c in state.clients] == ["host1", "host2"]
        assert "host1" not in picker.selected
        assert any(
            "host1 logs in as root@host1.lan:22, like the client host1 (root@host1.lan)" in m
            for m in messages(app)
        )

        typed = screen.query_one("#new-client", Input)
        typed.focus()
        await pilot.press(*"root@host1.lan:22", "enter")
        await pilot.pause()
        assert [c.name for c in state.clients] == ["host1", "host2"]
        assert typed.value == "root@host1.lan:22"  # kept, to be corrected
        assert any("one host, one client" in m for m in messages(app))

        await pilot.press("ctrl+u", *"root@nas.lan", "enter")
        await pilot.pause()
        assert [c.name for c in state.clients] == ["host1", "host2"]
        assert any("like the server nas (root@nas.lan)" in m for m in messages(app))

        await pilot.press("ctrl+u", *"bob@host1.lan", "enter")  # another account: a client
        await pilot.pause()
        assert [c.ssh for c in state.clients][-1] == "bob@host1.lan"


def test_the_wizard_never_saves_an_inventory_that_lists_one_host_twice(tmp_path: Path):
    state = fixed_state(tmp_path)
    state.clients.append(ClientEntry("host1-again", "host1", source_directories=["/srv"]))
    with pytest.raises(InventoryError, match=r"clients\[2\]\.ssh: client 'host1-again'"):
        state.save_inventory()
    assert not state.inventory_path.exists()
