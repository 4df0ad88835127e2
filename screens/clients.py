"""Step 3: the clients — pick from ssh config or add by hand; per client its name, sources,
excludes, own retention and storage quota; connection checks run in parallel."""

from __future__ import annotations

import contextlib

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, DataTable, Input, Label, SelectionList, Static
from textual.worker import Worker, WorkerState

from screens.base import (
    Body,
    FieldInput,
    FieldValidator,
    StepScreen,
    WordsValidator,
    field_row,
    join_words,
    split_words,
)
from screens.modals import ErrorModal, ask_host_key_from_thread
from screens.state import ClientEntry, name_from_destination
from wizard.inventory.settings import suggested_quota
from wizard.inventory.validation import (
    FieldError,
    check_exclude_pattern,
    check_keep_count,
    check_name,
    check_quota,
    check_source_directory,
    check_ssh_destination,
    login_of,
)
from wizard.reports import safe_text
from wizard.session import HostKeyChanged, config_hosts, probe_client

CHECKING = "checking…"
KEEP_FIELDS = ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def client_status(client: ClientEntry) -> str:
    """Short, for the table; the facts themselves are shown (wrapped) below it."""
    if client.error:
        return "✗ unreachable"
    if client.facts is None:
        return "not checked"
    return "✓ ready"


def client_facts_text(client: ClientEntry) -> str:
    if client.error:
        return (
            f"✗ unreachable, so it will NOT be configured this run: {safe_text(client.error)}"
            "\n  (ctrl+r checks again; it stays in the inventory for the next run)"
        )
    if client.facts is None:
        return "not checked yet"
    f = client.facts
    return safe_text(
        f"✓ {f.os or 'unknown OS'} · borg {f.borg_version} · borgmatic {f.borgmatic_version}"
        f" · login {f.login_user}"
    )


class ClientNameValidator(Validator):
    """The engine's name rule, and unique: not the server's, not another client's."""

    def __init__(self, screen: ClientsScreen) -> None:
        super().__init__()
        self.screen = screen

    def validate(self, value: str) -> ValidationResult:
        name = value.strip()
        try:
            check_name("name", name)
        except FieldError as exc:
            return self.failure(exc.message)
        state, current = self.screen.state, self.screen.current()
        if name == state.server_name:
            return self.failure(f"{name!r} is the server's name")
        if any(c.name == name and c is not current for c in state.clients):
            return self.failure(f"another client is already called {name!r}")
        return self.success()


class OwnKeepValidator(Validator):
    """A keep_* override: a whole number, and the client must still keep something."""

    def __init__(self, screen: ClientsScreen, key: str) -> None:
        super().__init__()
        self.screen, self.key = screen, key

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            check_keep_count(self.key, value.strip())
        except FieldError as exc:
            return self.failure(exc.message)
        merged = {
            **self.screen.state.retention,
            **self.screen.own_retention(),
            self.key: int(value),
        }
        if not any(isinstance(v, int) and v > 0 for v in merged.values()) and (
            "keep_within" not in merged
        ):
            return self.failure("with these numbers the client keeps no archive at all")
        return self.success()


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
        "free space at the server's repository root.\n\n"
        "A client that cannot be reached is **not configured** by this run; it stays in the "
        "inventory. `ctrl+r` checks every client again; `delete` removes the selected one "
        "from this list (its hosts are not touched).\n\n"
        "`ctrl+t` on a client the saved inventory already holds: **retire** it (its key, "
        "jobs and files leave every host), give it a **new key**, **recover** it after a "
        "guard refusal, or **restore a file** onto it — each shown as diffs first."
    )
    BINDINGS = [
        Binding("ctrl+r", "check_all", "Check all"),
        Binding("delete", "remove_client", "Remove"),
        Binding("ctrl+g", "suggest_quota", "Suggest quota"),
        Binding("ctrl+t", "client_actions", "Client actions"),
    ]

    def __init__(self, state) -> None:
        super().__init__(state)
        self.selected: str | None = state.clients[0].key if state.clients else None
        self._loading_fields = False

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
            with Vertical(id="client-detail"):
                yield Label("", id="detail-title", classes="section")
                yield Static("", id="detail-facts", markup=False)
                yield field_row(
                    "Name",
                    FieldInput(
                        id="client-name", label="name", validators=[ClientNameValidator(self)]
                    ),
                )
                yield Static("", id="rename-hint", classes="hint", markup=False)
                yield field_row(
                    "Source directories",
                    FieldInput(
                        id="sources",
                        label="source directories",
                        placeholder="/etc /home '/srv/my data'",
                        takes_question_mark=True,
                        validators=[WordsValidator(check_source_directory, "source_directories")],
                    ),
                )
                yield field_row(
                    "Exclude patterns",
                    FieldInput(
                        id="excludes",
                        label="exclude patterns",
                        placeholder="optional, e.g. *.tmp /home/*/.cache",
                        takes_question_mark=True,
                        validators=[
                            WordsValidator(check_exclude_pattern, "exclude_patterns", True)
                        ],
                    ),
                )
                with Vertical(classes="field"):
                    with Horizontal(id="own-keep-row", classes="field-row"):
                        yield Label("Own retention", classes="field-label")
                        for key in KEEP_FIELDS:
                            yield Label(key.removeprefix("keep_"), classes="keep-label")
                            yield FieldInput(
                                id=f"own-{key}",
                                label=key,
                                restrict=r"[0-9]*",
                                max_length=7,
                                validators=[OwnKeepValidator(self, key)],
                                classes="keep-input",
                            )
                    for key in KEEP_FIELDS:
                        error = Static("", id=f"own-{key}-error", classes="field-error")
                        error.display = False
                        yield error
                yield field_row(
                    "Storage quota",
                    FieldInput(
                        id="quota",
                        label="storage quota",
                        placeholder="none",
                        max_length=12,
                        validators=[FieldValidator(check_quota, "quota", optional=True)],
                    ),
                    Static("", id="quota-hint", classes="hint", markup=False),
                )

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
            table.add_row(client.name, client.ssh, client_status(client), key=client.key)
        if self.current() is not None:
            table.move_cursor(row=table.get_row_index(self.selected))

    def _set_status(self, client: ClientEntry) -> None:
        table = self.query_one("#clients-table", DataTable)
        try:
            table.update_cell(client.key, "status", client_status(client), update_width=True)
        except Exception:
            self._refresh_table()
        if client is self.current():
            self.query_one("#detail-facts", Static).update(client_facts_text(client))

    def suggested_quota(self) -> tuple[str, str] | None:
        """(quota, why) from the server's free space at its repository root."""
        facts = self.state.server_facts
        if facts is None or not facts.free_space:
            return None
        root = self.state.repo_root
        path, free = next(
            ((p, f) for p, f in facts.free_space.items() if p == root),
            max(facts.free_space.items(), key=lambda item: item[1]),
        )
        clients = max(len(self.state.clients), 1)
        quota = suggested_quota(free, clients)
        gib = free / 1024**3
        return quota, f"80% of {gib:.0f} GiB free at {path} / {clients} client(s)"

    def _show_detail(self) -> None:
        client = self.current()
        detail = self.query_one("#client-detail")
        detail.display = client is not None
        if client is None:
            return
        self._loading_fields = True
        self._label_fields(client)
        self.query_one("#detail-facts", Static).update(client_facts_text(client))
        self.query_one("#client-name", Input).value = client.name
        self.query_one("#sources", Input).value = join_words(client.source_directories)
        self.query_one("#excludes", Input).value = join_words(client.exclude_patterns)
        for key in KEEP_FIELDS:
            field = self.query_one(f"#own-{key}", FieldInput)
            value = client.retention.get(key)
            field.value = "" if value is None else str(value)
            default = self.state.retention.get(key)
            field.placeholder = "-" if default is None else str(default)
        self.query_one("#quota", Input).value = client.quota or ""
        suggestion = self.suggested_quota()
        self.query_one("#quota-hint", Static).update(
            f"suggested {suggestion[0]} (ctrl+g): {suggestion[1]}" if suggestion else ""
        )
        self._loading_fields = False
        for field in self.query("#client-detail FieldInput").results(FieldInput):
            self.show_field_problem(field)

    def _label_fields(self, client: ClientEntry) -> None:
        self.query_one("#detail-title", Label).update(f"{client.name} ({client.ssh})")
        self.query_one("#client-name", FieldInput).label = f"name of the client at {client.ssh}"
        for field_id, what in (
            ("sources", "source directories"),
            ("excludes", "exclude patterns"),
            ("quota", "storage quota"),
        ):
            self.query_one(f"#{field_id}", FieldInput).label = f"{client.name}'s {what}"
        for key in KEEP_FIELDS:
            self.query_one(f"#own-{key}", FieldInput).label = f"{client.name}'s {key}"
        hint = ""
        if client.saved_name and client.name != client.saved_name:
            hint = (
                f"Was {client.saved_name} in the saved inventory. If it was applied, the new "
                "name means a new repository; the old one stays on the server and its key "
                "line is kept and reported."
            )
        self.query_one("#rename-hint", Static).update(hint)
        self.query_one("#rename-hint").display = bool(hint)

    def own_retention(self) -> dict:
        own = {}
        for key in KEEP_FIELDS:
            text = self.query_one(f"#own-{key}", Input).value.strip()
            if text.isdigit():
                own[key] = int(text)
        return own

    @on(DataTable.RowHighlighted, "#clients-table")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self._show_detail()
            self.refresh_nav()

    @on(Input.Changed, "#client-detail Input")
    def detail_changed(self, event: Input.Changed) -> None:
        client = self.current()
        if self._loading_fields or client is None:
            return
        field = event.input
        if field.id and field.id.startswith("own-"):
            for key in KEEP_FIELDS:
                self.show_field_problem(self.query_one(f"#own-{key}", FieldInput))
        if isinstance(field, FieldInput) and field.problem() is None:
            self._store(client, field)
        self.refresh_nav()

    def _store(self, client: ClientEntry, field: FieldInput) -> None:
        """A valid value goes into the client at once (an invalid one keeps the last)."""
        value = field.value.strip()
        if field.id == "client-name" and value != client.name:
            client.name = value
            table = self.query_one("#clients-table", DataTable)
            table.update_cell(client.key, "name", value, update_width=True)
            self._label_fields(client)
        elif field.id == "sources":
            client.source_directories = list(dict.fromkeys(split_words(value)))
        elif field.id == "excludes":
            client.exclude_patterns = split_words(value)
        elif field.id == "quota":
            client.quota = value or None
        elif field.id and field.id.startswith("own-") and self._own_keep_valid():
            client.retention = {
                **{k: v for k, v in client.retention.items() if k not in KEEP_FIELDS},
                **self.own_retention(),
            }

    def _own_keep_valid(self) -> bool:
        return all(f.problem() is None for f in self.query(".keep-input").results(FieldInput))

    def action_suggest_quota(self) -> None:
        suggestion = self.suggested_quota()
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

    def same_login(self, destination: str) -> str | None:
        """Who already logs in where `destination` does (the same alias, or the same
        user@host:port after ~/.ssh/config): one host, one client. None if nobody."""
        login = login_of(destination)
        if login is None:
            return None
        if self.state.server_ssh and login_of(self.state.server_ssh) == login:
            return (
                f"{destination} logs in as {login}, like the server "
                f"{self.state.server_name} ({self.state.server_ssh}): a client cannot be the "
                "server's own login"
            )
        for client in self.state.clients:
            if login_of(client.ssh) == login:
                return (
                    f"{destination} logs in as {login}, like the client {client.name} "
                    f"({client.ssh}): one host, one client — it was not added"
                )
        return None

    def _add(self, destination: str) -> bool:
        if any(c.ssh == destination for c in self.state.clients):
            self.notify(f"{destination} is already a client", severity="warning")
            return False
        taken = self.same_login(destination)
        if taken:
            self.notify(taken, severity="error", timeout=10)
            return False
        name = name_from_destination(destination)
        taken = {c.name for c in self.state.clients} | {self.state.server_name}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        client = ClientEntry(name, destination)
        self.state.clients.append(client)
        self.selected = client.key
        self._refresh_table()
        self._show_detail()
        self._check(client)
        self.refresh_nav()
        return True

    def _remove(self, client: ClientEntry) -> None:
        self.state.clients = [c for c in self.state.clients if c is not client]
        if self.selected == client.key:
            self.selected = self.state.clients[0].key if self.state.clients else None
        self._refresh_table()
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
        table = self.query_one("#clients-table", DataTable)
        with contextlib.suppress(Exception):
            table.update_cell(client.key, "status", CHECKING, update_width=True)
        app, accept = self.app, self.state.accept_new_host_keys
        name, destination = client.name, client.ssh
        self.run_worker(
            lambda: probe_client(
                name,
                destination,
                on_unknown_host_key=lambda *a: ask_host_key_from_thread(app, *a),
                accept_new_host_keys=accept,
            ),
            name=client.key,
            group=f"check:{client.key}",
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
        client = self.state.client_by_key(event.worker.name)
        if client is None:
            return
        if event.state == WorkerState.SUCCESS:
            client.facts, client.error = event.worker.result, None
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
        self.state.invalidate_plan()
        return True
