"""Step 2: the backup server — pick or type it, connect, show its facts, choose account and root."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, LoadingIndicator, OptionList, Static
from textual.worker import Worker, WorkerState

from screens.base import Body, FieldInput, FieldValidator, StepScreen, field_row
from screens.modals import ErrorModal, asking_session
from screens.state import name_from_destination
from wizard.inventory.model import Inventory, ServerSpec
from wizard.inventory.validation import (
    check_absolute_path,
    check_name,
    check_ssh_destination,
    check_unix_user,
    split_host_port,
)
from wizard.reports import human_size, safe_text
from wizard.session import HostFacts, HostKeyChanged, ServerProbe, config_hosts


def describe_facts(facts: HostFacts) -> str:
    """The server's facts (what it reported is shown escaped, and wraps instead of being cut)."""
    lines = [
        f"OS         {facts.os or 'unknown'}",
        f"borg       {facts.borg_version or 'not installed'}",
        f"borgmatic  {facts.borgmatic_version or 'not installed'}",
        f"login      {facts.login_user}{' (root)' if facts.is_root else ''}",
    ]
    for path, free in sorted(facts.free_space.items()):
        lines.append(f"free       {human_size(free)} at {path}")
    return safe_text("\n".join(lines))


class ServerScreen(StepScreen):
    CSS_PATH = "server.tcss"
    STEP_TITLE = "2/7 Backup server"
    HELP = (
        "Pick the backup server from your `~/.ssh/config`, or type `[user@]host[:port]`, "
        "then **Connect** (`ctrl+o`). Borgkeep verifies the host key against known_hosts: "
        "an unknown key is shown by fingerprint for you to accept; a *changed* key is a hard "
        "stop.\n\n**Borg account** owns the repositories and the pinned `authorized_keys` "
        "(default `borg` for a root login, created if missing). **Repository root** holds "
        "one repository per client."
    )
    BINDINGS = [("ctrl+o", "connect", "Connect")]

    def compose_body(self) -> ComposeResult:
        hosts = config_hosts()
        with Body(id="body"):
            with Horizontal(id="server-top"):
                with Vertical(id="config-hosts-box"):
                    yield Label("~/.ssh/config hosts", classes="section")
                    yield OptionList(*hosts, id="config-hosts", compact=True)
                with Vertical(id="server-fields"):
                    yield field_row(
                        "Server",
                        FieldInput(
                            self.state.server_ssh,
                            label="server",
                            placeholder="[user@]host[:port] or ssh alias",
                            id="server-ssh",
                            validators=[FieldValidator(check_ssh_destination, "server.ssh")],
                        ),
                    )
                    yield field_row(
                        "Name",
                        FieldInput(
                            self.state.server_name,
                            label="server name",
                            placeholder="nas",
                            id="server-name",
                            validators=[FieldValidator(check_name, "server.name")],
                        ),
                    )
                    yield field_row(
                        "Borg account",
                        FieldInput(
                            self.state.borg_user,
                            label="borg account",
                            placeholder="borg (default for root)",
                            id="borg-user",
                            validators=[
                                FieldValidator(check_unix_user, "server.borg_user", optional=True)
                            ],
                        ),
                    )
                    yield field_row(
                        "Repository root",
                        FieldInput(
                            self.state.repo_root,
                            label="repository root",
                            placeholder="/backups (default for root)",
                            id="repo-root",
                            validators=[
                                FieldValidator(check_absolute_path, "server.repo_root", True)
                            ],
                        ),
                    )
                    yield field_row(
                        "Address for clients",
                        FieldInput(
                            self.state.server_address,
                            label="address for clients",
                            placeholder="optional host[:port]",
                            id="server-address",
                            validators=[FieldValidator(split_host_port, "server.address", True)],
                        ),
                    )
                    with Horizontal(id="connect-row"):
                        yield Button("Connect", id="connect", variant="success", compact=True)
                        yield LoadingIndicator(id="connecting")
            yield Label("Server facts", classes="section")
            yield Static(self._facts_text(), id="server-facts", markup=False)

    def _facts_text(self) -> str:
        facts = self.state.server_facts
        if facts is None or self.state.server_facts_for != self.state.server_ssh:
            return "Not connected yet: press Connect (ctrl+o)."
        return describe_facts(facts)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#connecting").display = False
        hosts = self.query_one("#config-hosts", OptionList)
        if hosts.option_count:
            hosts.highlighted = 0
        if self.state.server_ssh and self.state.server_facts is None:
            self.action_connect()
        else:
            self.query_one("#server-ssh", Input).focus()

    # --- fields -----------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#config-hosts")
    def pick_config_host(self, event: OptionList.OptionSelected) -> None:
        alias = str(event.option.prompt)
        self.query_one("#server-ssh", Input).value = alias
        self.query_one("#server-name", Input).value = name_from_destination(alias)
        self.query_one("#server-ssh", Input).focus()

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        if event.input.id == "server-ssh":
            value = event.value.strip()
            name_input = self.query_one("#server-name", Input)
            if value and (
                not name_input.value
                or name_input.value == name_from_destination(self.state.server_ssh)
            ):
                name_input.value = name_from_destination(value)
            self.state.server_ssh = value
            self.query_one("#server-facts", Static).update(self._facts_text())
        self.refresh_nav()

    def _fields_valid(self) -> bool:
        for inp in self.query(Input):
            if inp.id in ("server-ssh", "server-name") and not inp.value.strip():
                return False
            result = inp.validate(inp.value)
            if result is not None and not result.is_valid:
                return False
        return True

    def _store_fields(self) -> None:
        state = self.state
        state.server_ssh = self.query_one("#server-ssh", Input).value.strip()
        state.server_name = self.query_one("#server-name", Input).value.strip()
        state.borg_user = self.query_one("#borg-user", Input).value.strip()
        state.repo_root = self.query_one("#repo-root", Input).value.strip()
        state.server_address = self.query_one("#server-address", Input).value.strip()

    # --- connect ----------------------------------------------------------------------

    def action_connect(self) -> None:
        if not self._fields_valid():
            self.notify("Fix the fields first.", severity="error")
            return
        self._store_fields()
        self.state.server_facts = None
        self.query_one("#connecting").display = True
        self.query_one("#connect", Button).disabled = True
        self.query_one("#server-facts", Static).update(f"Connecting to {self.state.server_ssh} …")
        self.refresh_nav()
        spec = ServerSpec(
            self.state.server_name,
            self.state.server_ssh,
            self.state.server_address or None,
            self.state.borg_user or None,
            self.state.repo_root or None,
        )
        inventory = Inventory(server=spec, retention=dict(self.state.retention))
        self.connect_worker(inventory)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect")
    def connect_worker(self, inventory: Inventory) -> ServerProbe:
        with asking_session(self.app, inventory, self.state.accept_new_host_keys) as session:
            return session.probe_server()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "connect" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        self.query_one("#connecting").display = False
        hosts = self.query_one("#config-hosts", OptionList)
        if hosts.option_count:
            hosts.highlighted = 0
        self.query_one("#connect", Button).disabled = False
        facts_view = self.query_one("#server-facts", Static)
        if event.state == WorkerState.SUCCESS:
            probe: ServerProbe = event.worker.result
            self.state.server_facts = probe.facts
            self.state.server_facts_for = self.state.server_ssh
            facts_view.update(
                describe_facts(probe.facts)
                + safe_text(f"\nborg user  {probe.borg_user}\nrepos in   {probe.repo_root}")
            )
            facts_view.set_classes("ok")
            self.notify(f"Connected to {self.state.server_ssh}", timeout=3)
        else:
            error = event.worker.error
            facts_view.set_classes("bad")
            if isinstance(error, HostKeyChanged):
                facts_view.update(f"STOP: {safe_text(str(error))}")
                self.app.push_screen(
                    ErrorModal("Host key CHANGED — refusing to connect", safe_text(str(error)))
                )
            else:
                facts_view.update(f"Cannot use this server: {safe_text(str(error))}")
        self.refresh_nav()

    def can_go_next(self) -> bool:
        return (
            self.state.server_facts is not None
            and self.state.server_facts_for == self.state.server_ssh
            and self._fields_valid()
        )

    def collect(self):
        self._store_fields()
        self.state.invalidate_plan()
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "connect":
            event.stop()
            self.action_connect()
            return
        super().on_button_pressed(event)
