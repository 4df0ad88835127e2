"""Step 1: start a new setup, or continue from the saved inventory (rerun) — which leads with
the fleet's health, read from the server alone, the same rows `borgkeep status` prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from screens.base import ReadingBody, StepScreen
from screens.client_status import ClientStatusModal
from screens.modals import ErrorModal, asking_session
from wizard.inventory.model import Inventory
from wizard.inventory.settings import client_schedule
from wizard.reports import (
    ago,
    client_problem_lines,
    safe_text,
    server_space_line,
    status_rows,
    status_verdict,
    what_to_do_lines,
)

if TYPE_CHECKING:  # the engine's session loads in the status worker, not before the screen
    from wizard.session import ClientStatus, StatusReport

COLUMNS = ("", "client", "state", "last backup", "archives", "size", "guard", "repository")
STATE_COLOURS = {
    "ok": "text-success",
    "stale": "text-warning",
    "never": "text-warning",
    "refused": "text-error",
    "error": "text-error",
}


class WelcomeScreen(StepScreen):
    CSS_PATH = "welcome.tcss"
    STEP_TITLE = "1/7 Welcome"
    SHOW_BACK = False
    NEXT_LABEL = "Start"
    HELP = (
        "Borgkeep sets up **tamper-resistant Borg backups**: each client may only *add* "
        "archives to its own repository on the server (an SSH key pinned to "
        "`borg serve --append-only`), and pruning runs on the server.\n\n"
        "With a saved inventory, the wizard starts from it: adding a host changes only "
        "what that host needs. Nothing is written before you have reviewed every diff.\n\n"
        "On a rerun this screen first shows the fleet's **health**, read from the server "
        "alone (`borgkeep status` prints the same rows): problem rows first — *error*, "
        "*refused* (the prune guard refused: archives vanished or were forged), *never* "
        "backed up, *stale* — then *ok*. The selected client's problems are shown below "
        "the table; `enter` on a client shows what to do, with the exact commands. "
        "`ctrl+r` asks the server again."
    )
    BINDINGS = [Binding("ctrl+r", "refresh_status", "Refresh health")]

    def compose_body(self) -> ComposeResult:
        with ReadingBody(id="body"):
            yield Static("Borgkeep — append-only Borg backups for a fleet", id="welcome-title")
            if self.state.saved is None:
                yield Static(self._intro(), id="welcome-intro")
            else:
                yield Label(self._health_title(), id="health-title", classes="section")
                yield LoadingIndicator(id="status-loading")
                yield Static("", id="status-message", markup=False)
                yield DataTable(id="status-table", cursor_type="row", show_cursor=True)
                yield Static("", id="status-detail", markup=False)
                yield Static("", id="server-space", markup=False)
                yield Label("Saved inventory", classes="section")
            yield Static(self._inventory_text(), id="inventory-summary", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#body").focus()
        if self.state.saved is None:
            return
        self.query_one("#status-table", DataTable).add_columns(*COLUMNS)
        self._show_report_widgets(False)
        if self.state.status is not None:
            self._show_status(self.state.status)
        else:
            self.action_refresh_status()

    def _intro(self) -> str:
        return (
            "Clients can add archives but never delete them; the server prunes on a "
            "schedule. Every change is shown as a diff before it is applied."
        )

    def _health_title(self) -> str:
        saved = self.state.saved
        return f"Fleet health — from the server {saved.server.name} ({saved.server.ssh})"

    def _inventory_text(self) -> str:
        saved = self.state.saved
        path = self.state.inventory_path
        if saved is None:
            return (
                f"No saved inventory at {path}.\n\n"
                "Start a new setup: pick the backup server, then the clients."
            )
        lines = [
            f"Saved inventory: {path}",
            "",
            f"Server  {saved.server.name}  ({saved.server.ssh})",
        ]
        if saved.server.repo_root:
            lines[-1] += f"  repos in {saved.server.repo_root}"
        lines.append("")
        lines.append(f"Clients ({len(saved.clients)}):")
        for client in saved.clients:
            sources = " ".join(client.source_directories)
            lines.append(
                f"  {client.name:<14} {client.ssh:<24} {client_schedule(client):<12} {sources}"
            )
        lines.append("")
        lines.append("Continue to check the hosts and add clients; existing ones stay as they are.")
        return "\n".join(lines)

    # --- the fleet's health -----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "refresh_status" and self.state.saved is None:
            return False
        return super().check_action(action, parameters)

    def action_refresh_status(self) -> None:
        if self.state.saved is None:
            return
        self.query_one("#status-loading").display = True
        message = self.query_one("#status-message", Static)
        message.update(f"Asking {self.state.saved.server.name} for the fleet's health …")
        message.set_classes("")
        self.status_worker(self.state.saved)

    @work(thread=True, exclusive=True, exit_on_error=False, group="status")
    def status_worker(self, inventory: Inventory) -> StatusReport:
        with asking_session(self.app, inventory, self.state.accept_new_host_keys) as session:
            return session.status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "status":
            return
        if event.state == WorkerState.SUCCESS:
            self.state.status = event.worker.result
            self._show_status(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self._show_status_error(event.worker.error)

    def _show_report_widgets(self, shown: bool) -> None:
        for selector in ("#status-table", "#status-detail", "#server-space"):
            self.query_one(selector).display = shown

    def _show_status_error(self, error: BaseException | None) -> None:
        from wizard.session import HostKeyChanged, ServerUnavailable, StatusError

        self.query_one("#status-loading").display = False
        self._show_report_widgets(False)
        message = self.query_one("#status-message", Static)
        message.set_classes("bad")
        text = safe_text(str(error), False)
        cause = getattr(error, "__cause__", None)
        if isinstance(cause, HostKeyChanged):
            message.update(f"STOP: {safe_text(str(cause), False)}")
            self.app.push_screen(
                ErrorModal("Host key CHANGED — refusing to connect", safe_text(str(error)))
            )
        elif isinstance(error, ServerUnavailable):
            message.update(
                f"The server cannot be reached, so its health is unknown: {text}\n"
                "ctrl+r tries again; Start checks every host and shows what would change."
            )
        elif isinstance(error, StatusError):
            message.update(
                f"The server cannot report its health yet: {text}\n"
                "Start plans and applies the set-up, which installs the guard that reports."
            )
        else:
            message.update(f"The fleet's health could not be read: {text}")

    def _show_status(self, report: StatusReport) -> None:
        self.query_one("#status-loading").display = False
        message = self.query_one("#status-message", Static)
        message.update(status_verdict(report))
        message.set_classes("ok" if report.ok else "warn")
        colours = self.app.get_css_variables()
        table = self.query_one("#status-table", DataTable)
        table.clear()
        for row in status_rows(report, self._now()):
            cells = [Text(cell) for cell in row]
            colour = colours.get(STATE_COLOURS.get(row[2], "text-error"))
            cells[0].stylize(colour or "")
            cells[2].stylize(colour or "")
            table.add_row(*cells, key=row[1])
        self._show_report_widgets(True)
        table.display = bool(report.clients)
        space = server_space_line(report)
        self.query_one("#server-space", Static).update(space or "")
        self.query_one("#server-space").display = space is not None
        self.query_one("#server-space").set_classes("bad" if report.server.get("low_space") else "")
        if report.clients:
            table.move_cursor(row=0)
            self._show_detail(self._client(0))
            if self.focused is self.query_one("#body"):
                table.focus()

    def _now(self) -> datetime:
        now = self.state.now or datetime.now(UTC)
        return now if now.tzinfo else now.astimezone(UTC)

    def _client(self, row: int) -> ClientStatus | None:
        report = self.state.status
        if report is None or not 0 <= row < len(report.clients):
            return None
        return report.by_urgency()[row]

    def _show_detail(self, client: ClientStatus | None) -> None:
        detail = self.query_one("#status-detail", Static)
        if client is None:
            detail.update("")
            return
        if client.problems:
            lines = [*client_problem_lines(client), "enter: what to do"]
        else:
            newest = client.newest_archive or {}
            lines = [
                f"{client.name}: ok — newest archive {safe_text(newest.get('name', '-'), False)}"
                f" ({ago(client.newest_time, self._now())})"
            ]
        detail.update("\n".join(lines))
        detail.set_classes("bad" if client.state in ("refused", "error") else "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(self._client(event.cursor_row))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        client = self._client(event.cursor_row)
        if client is not None:
            self.show_what_to_do(client)

    def show_what_to_do(self, client: ClientStatus) -> None:
        """The client's problems and the exact commands for them, in a modal; its buttons
        are `client_actions(client)`, and the choice comes back to `client_action_chosen`."""
        report = self.state.status
        assert report is not None
        self.app.push_screen(
            ClientStatusModal(
                f"{client.name}: {client.state}",
                what_to_do_lines(report, client),
                self.client_actions(client),
            ),
            lambda action: self.client_action_chosen(client, action),
        )

    def client_actions(self, client: ClientStatus) -> list[tuple[str, str]]:
        """(id, label) of the actions offered for a client besides Close: a refused client
        can be recovered (acknowledge or roll back), any client restored from."""
        actions = [("restore", "Restore a file…")]
        if client.state == "refused":
            actions.insert(0, ("recover", "Recover…"))
        return actions

    def client_action_chosen(self, client: ClientStatus, action: str | None) -> None:
        """Open the chosen lifecycle screen; afterwards the health is read again."""
        if action not in {key for key, _label in self.client_actions(client)}:
            return  # closed without choosing
        from screens.lifecycle import open_client_action

        open_client_action(
            self.app,
            self.state,
            client.name,
            action,
            on_done=lambda _outcome: self.action_refresh_status(),
        )

    def collect(self):
        return "rerun" if self.state.saved is not None else "new"
