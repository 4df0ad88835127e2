"""Step 1: start a new setup, or continue from the saved inventory (rerun)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from screens.base import ReadingBody, StepScreen
from wizard.inventory.settings import client_schedule


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
        "what that host needs. Nothing is written before you have reviewed every diff."
    )

    def compose_body(self) -> ComposeResult:
        with ReadingBody(id="body"):
            yield Static("Borgkeep — append-only Borg backups for a fleet", id="welcome-title")
            yield Static(self._intro(), id="welcome-intro")
            yield Static(self._inventory_text(), id="inventory-summary", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#body").focus()

    def _intro(self) -> str:
        return (
            "Clients can add archives but never delete them; the server prunes on a "
            "schedule. Every change is shown as a diff before it is applied."
        )

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

    def collect(self):
        return "rerun" if self.state.saved is not None else "new"
