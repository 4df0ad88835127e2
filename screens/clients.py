"""Step 3: the clients — pick from ssh config or add by hand, their sources and excludes, and
connection checks that run in parallel with a status per host."""

from __future__ import annotations

import contextlib

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, SelectionList, Static
from textual.worker import Worker, WorkerState

from screens.base import Body, FieldValidator, StepScreen, WordsValidator, split_words
from screens.modals import ErrorModal, ask_host_key_from_thread
from screens.state import ClientEntry, name_from_destination
from wizard.inventory.validation import (
    check_absolute_path,
    check_exclude_pattern,
    check_ssh_destination,
)
from wizard.session import HostKeyChanged, config_hosts, probe_client

CHECKING = "checking…"


def client_status(client: ClientEntry) -> str:
    if client.error:
        return f"✗ {client.error}"
    if client.facts is None:
        return "not checked"
    f = client.facts
    return f"✓ {f.os or '?'} · borg {f.borg_version} · borgmatic {f.borgmatic_version} · {f.login_user}"


class ClientsScreen(StepScreen):
    CSS_PATH = "clients.tcss"
    STEP_TITLE = "3/7 Clients"
    HELP = (
        "Tick the clients from your `~/.ssh/config` (space), or type `[user@]host[:port]` "
        "and **Add**. Each client is checked over SSH at once, in parallel; its status shows "
        "in the table.\n\nSelect a client in the table to edit its **source directories** "
        "and **exclude patterns** (separated by spaces). `ctrl+r` checks every client again; "
        "`delete` removes the selected one."
    )
    BINDINGS = [
        ("ctrl+r", "check_all", "Check all"),
        ("delete", "remove_client", "Remove"),
    ]

    def __init__(self, state) -> None:
        super().__init__(state)
        self.selected: str | None = state.clients[0].name if state.clients else None
        self._loading_fields = False

    def compose_body(self) -> ComposeResult:
        chosen = {c.ssh for c in self.state.clients}
        hosts = [
            h
            for h in config_hosts()
            if h != self.state.server_ssh and name_from_destination(h) != self.state.server_name
        ]
        with Body(id="body"):
            with Horizontal(id="clients-top"):
                with Vertical(id="pick-box"):
                    yield Label("~/.ssh/config hosts", classes="section")
                    yield SelectionList[str](
                        *[(h, h, h in chosen) for h in hosts], id="config-clients", compact=True
                    )
                    yield Input(
                        placeholder="[user@]host[:port]",
                        id="new-client",
                        validators=[FieldValidator(check_ssh_destination, "clients.ssh")],
                        compact=True,
                    )
                    yield Button("Add", id="add-client", compact=True)
                with Vertical(id="table-box"):
                    yield Label("Clients", classes="section")
                    yield DataTable(id="clients-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="client-detail"):
                yield Label("", id="detail-title", classes="section")
                with Horizontal(classes="field-row"):
                    yield Label("Source directories", classes="field-label")
                    yield Input(
                        id="sources",
                        placeholder="/etc /home",
                        validators=[WordsValidator(check_absolute_path, "source_directories")],
                        compact=True,
                    )
                with Horizontal(classes="field-row"):
                    yield Label("Exclude patterns", classes="field-label")
                    yield Input(
                        id="excludes",
                        placeholder="optional, e.g. *.tmp /home/*/.cache",
                        validators=[
                            WordsValidator(check_exclude_pattern, "exclude_patterns", True)
                        ],
                        compact=True,
                    )
                yield Static("", id="detail-errors", classes="field-error")

    def on_mount(self) -> None:
        table = self.query_one("#clients-table", DataTable)
        table.add_column("name", key="name")
        table.add_column("ssh", key="ssh")
        table.add_column("status", key="status")
        self._refresh_table()
        self._show_detail()
        super().on_mount()
        self.query_one("#config-clients", SelectionList).focus()
        for client in self.state.clients:
            if client.facts is None:
                self._check(client)

    # --- table and detail -------------------------------------------------------------

    def _refresh_table(self) -> None:
        table = self.query_one("#clients-table", DataTable)
        table.clear()
        for client in self.state.clients:
            table.add_row(client.name, client.ssh, client_status(client), key=client.name)
        if self.selected and self.state.client(self.selected):
            table.move_cursor(row=table.get_row_index(self.selected))

    def _set_status(self, name: str, text: str) -> None:
        table = self.query_one("#clients-table", DataTable)
        try:
            table.update_cell(name, "status", text, update_width=True)
        except Exception:
            self._refresh_table()

    def _show_detail(self) -> None:
        client = self.state.client(self.selected) if self.selected else None
        detail = self.query_one("#client-detail")
        detail.display = client is not None
        if client is None:
            return
        self._loading_fields = True
        self.query_one("#detail-title", Label).update(f"{client.name} ({client.ssh})")
        self.query_one("#sources", Input).value = " ".join(client.source_directories)
        self.query_one("#excludes", Input).value = " ".join(client.exclude_patterns)
        self._loading_fields = False

    @on(DataTable.RowHighlighted, "#clients-table")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self._show_detail()

    @on(Input.Changed, "#sources, #excludes")
    def detail_changed(self, event: Input.Changed) -> None:
        if self._loading_fields:
            return
        client = self.state.client(self.selected) if self.selected else None
        errors = []
        for inp in self.query("#sources, #excludes").results(Input):
            result = inp.validate(inp.value)
            if result is not None and not result.is_valid:
                errors.append(f"{inp.id}: {' '.join(result.failure_descriptions)}")
        self.query_one("#detail-errors", Static).update("\n".join(errors))
        if client is not None and event.validation_result and event.validation_result.is_valid:
            words = split_words(event.value)
            if event.input.id == "sources":
                client.source_directories = list(dict.fromkeys(words))
            else:
                client.exclude_patterns = words
        self.refresh_nav()

    # --- adding and removing ----------------------------------------------------------

    @on(SelectionList.SelectedChanged, "#config-clients")
    def config_hosts_changed(self, event: SelectionList.SelectedChanged) -> None:
        """Keep the client list in step with the ticked aliases (however they were ticked)."""
        picker = event.selection_list
        ticked = set(picker.selected)
        offered = {picker.get_option_at_index(i).value for i in range(picker.option_count)}
        for alias in picker.selected:
            if not any(c.ssh == alias for c in self.state.clients):
                self._add(alias)
        for client in list(self.state.clients):
            if client.ssh in offered and client.ssh not in ticked:
                self._remove(client.name)

    def _add(self, destination: str) -> None:
        if any(c.ssh == destination for c in self.state.clients):
            self.notify(f"{destination} is already a client", severity="warning")
            return
        name = name_from_destination(destination)
        taken = {c.name for c in self.state.clients} | {self.state.server_name}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        client = ClientEntry(name, destination)
        self.state.clients.append(client)
        self.selected = name
        self._refresh_table()
        self._show_detail()
        self._check(client)
        self.refresh_nav()

    def _remove(self, name: str) -> None:
        self.state.clients = [c for c in self.state.clients if c.name != name]
        if self.selected == name:
            self.selected = self.state.clients[0].name if self.state.clients else None
        self._refresh_table()
        self._show_detail()
        self.refresh_nav()

    def action_remove_client(self) -> None:
        if self.selected:
            client = self.state.client(self.selected)
            self._remove(self.selected)
            if client is not None:
                picker = self.query_one("#config-clients", SelectionList)
                with contextlib.suppress(Exception):
                    picker.deselect(client.ssh)

    def _add_typed(self) -> None:
        field = self.query_one("#new-client", Input)
        value = field.value.strip()
        result = field.validate(value)
        if not value or (result is not None and not result.is_valid):
            reason = " ".join(result.failure_descriptions) if result else "enter a destination"
            self.notify(reason, severity="error")
            return
        field.value = ""
        self._add(value)

    @on(Input.Submitted, "#new-client")
    def new_client_submitted(self) -> None:
        self._add_typed()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add-client":
            event.stop()
            self._add_typed()
            return
        super().on_button_pressed(event)

    # --- checks -----------------------------------------------------------------------

    def _check(self, client: ClientEntry) -> None:
        client.facts, client.error = None, None
        self._set_status(client.name, CHECKING)
        app, accept = self.app, self.state.accept_new_host_keys
        self.run_worker(
            lambda: probe_client(
                client.name,
                client.ssh,
                on_unknown_host_key=lambda *a: ask_host_key_from_thread(app, *a),
                accept_new_host_keys=accept,
            ),
            name=client.name,
            group=f"check:{client.name}",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )
        self.refresh_nav()

    def action_check_all(self) -> None:
        for client in self.state.clients:
            self._check(client)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if not event.worker.group.startswith("check:"):
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        client = self.state.client(event.worker.name)
        if client is None:
            return
        if event.state == WorkerState.SUCCESS:
            client.facts, client.error = event.worker.result, None
        else:
            error = event.worker.error
            client.facts, client.error = None, str(error) or type(error).__name__
            if isinstance(error, HostKeyChanged):
                self.app.push_screen(
                    ErrorModal("Host key CHANGED — refusing to connect", str(error))
                )
        self._set_status(client.name, client_status(client))
        self.refresh_nav()

    def can_go_next(self) -> bool:
        if not self.state.clients:
            return False
        if not all(c.source_directories for c in self.state.clients):
            return False
        for inp in self.query("#sources, #excludes").results(Input):
            result = inp.validate(inp.value)
            if result is not None and not result.is_valid:
                return False
        return True

    def collect(self):
        failed = [c.name for c in self.state.clients if c.error]
        if failed:
            self.notify(
                f"Not reachable: {', '.join(failed)} — the plan will skip them.",
                severity="warning",
            )
        self.state.invalidate_plan()
        return True
