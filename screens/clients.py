"""Step 3: the clients — pick from ssh config or add by hand; per client its name, sources,
excludes, own retention and storage quota; connection checks run in parallel."""

from __future__ import annotations

import contextlib

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, SelectionList
from textual.worker import Worker, WorkerState

from screens.base import Body, FieldInput, FieldValidator, StepScreen
from screens.client_checks import client_check, existing_reading, free_name, login_taken
from screens.client_form import ClientForm
from screens.modals import ErrorModal, ask_host_key_from_thread
from screens.state import ClientEntry, name_from_destination
from screens.takeover_choice import (
    TakeoverChoice,
    leave_out_keys,
    status_note,
)
from wizard.inventory.validation import check_ssh_destination
from wizard.reports import safe_text
from wizard.session import HostKeyChanged, config_hosts

CHECKING = "checking…"


class ClientsScreen(StepScreen):
    CSS_PATH = "clients.tcss"
    STEP_TITLE = "3/7 Clients"
    HELP = (
        "Tick the clients from your `~/.ssh/config` (space), or type `[user@]host[:port]` "
        "and **Add**. Each client is checked over SSH at once, in parallel; its status shows "
        "in the table and its facts below it.\n\n"
        "Select a client in the table to edit it: its **name** (used for its repository, "
        "archives and files; renaming an applied client starts a new repository), its "
        "**source directories** and **exclude patterns** (separated by spaces; quote a path "
        "with spaces: `'/srv/my data'`), its **own retention** (empty: the fleet's, set on "
        "the next step) and its **storage quota** (Borg's `--storage-quota`, e.g. `50G`; "
        "empty: none). `ctrl+g` fills in the suggested quota: an equal share of 80% of the "
        "free space at the server's repository root. **Repository** (empty: "
        "`{repo_root}/{name}`) and **archive prefix** (empty: `{name}-`) are for a client "
        "whose archives already live elsewhere.\n\n"
        "A client that already backs up to the server with Borg shows what its check found. "
        "Choose: **take it over** (the default: its repository and every archive stay; its "
        "read-write key line, client-side prune, configs and cron lines are retired), a "
        "**new repository beside it** (the old one is left alone), or **leave it out** of "
        "this apply.\n\n"
        "A client that cannot be reached is **not configured** by this run; it stays in the "
        "inventory. `ctrl+r` checks every client again; `delete` removes the selected one "
        "from this list (its hosts are not touched).\n\n"
        "`ctrl+t` on a client the saved inventory already holds: **retire** it (its key, "
        "jobs and files leave every host), give it a **new key**, **recover** it after a "
        "guard refusal, or **restore a file** onto it — each shown as diffs first."
    )
    BINDINGS = [
        Binding("ctrl+r", "check_all", "Check"),
        Binding("delete", "remove_client", "Remove"),
        Binding("ctrl+g", "suggest_quota", "Quota"),
        Binding("ctrl+t", "client_actions", "Actions"),
    ]

    def __init__(self, state) -> None:
        super().__init__(state)
        self.selected: str | None = state.clients[0].key if state.clients else None

    def current(self) -> ClientEntry | None:
        return self.state.client_by_key(self.selected)

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
                    yield FieldInput(
                        placeholder="[user@]host[:port]",
                        id="new-client",
                        label="new client",
                        validators=[
                            FieldValidator(check_ssh_destination, "clients.ssh", optional=True)
                        ],
                    )
                    yield Button("Add", id="add-client", compact=True)
                with Vertical(id="table-box"):
                    yield Label("Clients", classes="section")
                    yield DataTable(id="clients-table", cursor_type="row", zebra_stripes=True)
            yield ClientForm(self.state)

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
        self._read_existing()

    # --- table and detail -------------------------------------------------------------

    def _refresh_table(self) -> None:
        table = self.query_one("#clients-table", DataTable)
        table.clear()
        for client in self.state.clients:
            table.add_row(client.name, client.ssh, self.status(client), key=client.key)
        if self.current() is not None:
            table.move_cursor(row=table.get_row_index(self.selected))

    def _set_status(self, client: ClientEntry) -> None:
        table = self.query_one("#clients-table", DataTable)
        try:
            table.update_cell(client.key, "status", self.status(client), update_width=True)
        except Exception:
            self._refresh_table()
        if client is self.current():
            self.form.show_check()

    def status(self, client: ClientEntry) -> str:
        """Short, for the table; the facts themselves are shown (wrapped) below it."""
        if client.error:
            return "✗ unreachable"
        if client.facts is None:
            return "not checked"
        setup = self.form.existing.get(client.key)
        return "✓ ready" + status_note(self.state, client, setup)

    @on(TakeoverChoice.Chosen)
    def takeover_chosen(self) -> None:
        """After the form applied it: the table says what happens to the setup found."""
        client = self.current()
        if client is not None:
            self._set_status(client)

    @property
    def form(self) -> ClientForm:
        return self.query_one(ClientForm)

    def _show_detail(self) -> None:
        self.form.show(self.current())

    @on(DataTable.RowHighlighted, "#clients-table")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self._show_detail()
            self.refresh_nav()

    @on(Input.Changed, "#client-detail Input")
    def detail_changed(self) -> None:
        self.refresh_nav()

    @on(ClientForm.Renamed)
    def renamed(self, event: ClientForm.Renamed) -> None:
        table = self.query_one("#clients-table", DataTable)
        table.update_cell(event.client.key, "name", event.client.name, update_width=True)

    def action_suggest_quota(self) -> None:
        suggestion = self.form.suggested_quota()
        if self.current() is None or suggestion is None:
            self.notify("No server facts to suggest a quota from.", severity="warning")
            return
        self.query_one("#quota", Input).value = suggestion[0]

    # --- adding and removing ----------------------------------------------------------

    @on(SelectionList.SelectedChanged, "#config-clients")
    def config_hosts_changed(self, event: SelectionList.SelectedChanged) -> None:
        """Keep the client list in step with the ticked aliases (however they were ticked)."""
        picker = event.selection_list
        ticked = set(picker.selected)
        offered = {picker.get_option_at_index(i).value for i in range(picker.option_count)}
        for alias in picker.selected:
            if not any(c.ssh == alias for c in self.state.clients) and not self._add(alias):
                picker.deselect(alias)
        for client in list(self.state.clients):
            if client.ssh in offered and client.ssh not in ticked:
                self._remove(client)

    def _add(self, destination: str) -> bool:
        if any(c.ssh == destination for c in self.state.clients):
            self.notify(f"{destination} is already a client", severity="warning")
            return False
        taken = login_taken(self.state, destination)
        if taken:
            self.notify(taken, severity="error", timeout=10)
            return False
        client = ClientEntry(free_name(self.state, destination), destination)
        self.state.clients.append(client)
        self.selected = client.key
        table = self.query_one("#clients-table", DataTable)  # one row more, the rest kept
        table.add_row(client.name, client.ssh, self.status(client), key=client.key)
        table.move_cursor(row=table.row_count - 1)
        self._show_detail()
        self._check(client)
        self.refresh_nav()
        return True

    def _remove(self, client: ClientEntry) -> None:
        self.state.clients = [c for c in self.state.clients if c is not client]
        if self.selected == client.key:
            self.selected = self.state.clients[0].key if self.state.clients else None
        table = self.query_one("#clients-table", DataTable)  # its row goes, the rest stay
        table.remove_row(client.key)
        if self.current() is not None:
            table.move_cursor(row=table.get_row_index(self.selected))
        self._show_detail()
        self.refresh_nav()

    def action_client_actions(self) -> None:
        from screens.lifecycle import open_client_action

        client = self.current()
        saved = self.state.saved
        if (
            client is None
            or saved is None
            or client.saved_name not in {c.name for c in saved.clients}
        ):
            self.notify(
                "Client actions are for clients of the saved inventory (set up by an apply).",
                severity="warning",
            )
            return
        open_client_action(self.app, self.state, client.saved_name, on_done=self._after_action)

    def _after_action(self, outcome) -> None:
        if self.current() is None:
            self.selected = self.state.clients[0].key if self.state.clients else None
        self._refresh_table()
        self._show_detail()
        self.refresh_nav()

    def action_remove_client(self) -> None:
        client = self.current()
        if client is None:
            return
        self._remove(client)
        picker = self.query_one("#config-clients", SelectionList)
        with contextlib.suppress(Exception):
            picker.deselect(client.ssh)

    def _add_typed(self) -> None:
        field = self.query_one("#new-client", FieldInput)
        value = field.value.strip()
        problem = field.problem() if value else "enter [user@]host[:port] first"
        if problem:
            self.notify(problem, severity="error")
            return
        if not self._add(value):
            return
        field.value = ""
        self.query_one("#client-name", Input).focus()

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
        self.form.existing.pop(client.key, None)
        table = self.query_one("#clients-table", DataTable)
        with contextlib.suppress(Exception):
            table.update_cell(client.key, "status", CHECKING, update_width=True)
        app = self.app
        ask = lambda *a: ask_host_key_from_thread(app, *a)  # noqa: E731
        self.run_worker(
            client_check(self.state, client, ask),
            name=client.key,
            group=f"check:{client.key}",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )
        self.refresh_nav()

    def _read_existing(self) -> None:
        """What the clients checked on an earlier visit already have (from their facts)."""
        reading = existing_reading(self.state)
        if reading is None:
            return
        self.run_worker(
            reading,
            group="existing",
            thread=True,
            exit_on_error=False,
        )

    def action_check_all(self) -> None:
        for client in self.state.clients:
            self._check(client)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "existing" and event.state == WorkerState.SUCCESS:
            for key, setup in event.worker.result:
                client = self.state.client_by_key(key)
                if client is not None and key not in self.form.existing:
                    self.form.found_existing(client, setup)
                    self._set_status(client)
            return
        if not event.worker.group.startswith("check:"):
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        client = self.state.client_by_key(event.worker.name)
        if client is None:
            return
        if event.state == WorkerState.SUCCESS:
            client.facts, client.error = event.worker.result[0], None
            self.form.found_existing(client, event.worker.result[1])
        else:
            error = event.worker.error
            client.facts, client.error = None, str(error) or type(error).__name__
            if isinstance(error, HostKeyChanged):
                self.app.push_screen(
                    ErrorModal("Host key CHANGED — refusing to connect", safe_text(str(error)))
                )
        self._set_status(client)
        self.refresh_nav()

    def can_go_next(self) -> bool:
        if not self.state.clients:
            return False
        if not all(c.source_directories for c in self.state.clients):
            return False
        fields = self.query("#client-detail FieldInput").results(FieldInput)
        return all(field.problem() is None for field in fields)

    def collect(self):
        failed = [c.name for c in self.state.clients if c.error]
        if failed:
            self.notify(
                f"Not reachable: {', '.join(failed)} — they will NOT be configured this run.",
                severity="warning",
            )
        keys = set(leave_out_keys(self.state))
        self.state.invalidate_plan()
        leave_out_keys(self.state).update(keys)
        return True
