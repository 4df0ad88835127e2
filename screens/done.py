"""Step 7: verify and done — the post-apply proofs per host, where things were saved, next steps."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from screens.base import Body, StepScreen
from wizard.inventory.settings import client_schedule
from wizard.reports import proof_rows, verify_summary
from wizard.session import VerifyReport


def next_steps_text(state) -> str:
    inventory = state.session.inventory if state.session else state.to_inventory()
    now = state.now or datetime.now()
    lines = []
    left_out = state.session.left_out if state.session else set()
    for client in inventory.clients:
        if client.name in left_out:
            lines.append(f"• {client.name} was left out: run borgkeep again to set it up")
            continue
        first = croniter(client_schedule(client), now).get_next(datetime)
        lines.append(f"• first backup of {client.name}: {first:%a %d %b %H:%M} (cron)")
    lines += [
        "• run one now on a client:  borgmatic create --verbosity 1 --list --stats",
        "  (with -c the config borgkeep wrote; see the review for its path)",
        "• restore files:  borgmatic extract --archive latest --path etc/hosts",
        "  or browse:      borg mount REPO::ARCHIVE /mnt/restore  (on the client)",
        "• add hosts later: run borgkeep again; the inventory is remembered.",
    ]
    return "\n".join(lines)


def saved_text(state) -> str:
    lines = [f"Inventory: {state.inventory_path}"]
    if state.session is not None:
        lines.append(f"Secrets (repo passphrases): {state.session.store.location}")
    result = state.apply_result
    if result is not None and result.exported_keys:
        for host, name in result.exported_keys.items():
            lines.append(f"Repository key of {host}: saved as {name!r} in the same store")
    lines.append("Keep a copy of the secrets store off the server: without it, no restore.")
    return "\n".join(lines)


class DoneScreen(StepScreen):
    CSS_PATH = "done.tcss"
    STEP_TITLE = "7/7 Verify and done"
    NEXT_LABEL = "Finish"
    SHOW_BACK = False
    HELP = (
        "The proofs are read-only: each client's config validates with its own borgmatic, "
        "`borg info` works through the client's pinned key, the key gets no shell and no "
        "other repository, `--append-only` is forced, and the server's prune config matches "
        "the client's archives (`--dry-run`). `ctrl+r` runs them again."
    )
    BINDINGS = [("ctrl+r", "verify", "Verify again")]

    def compose_body(self) -> ComposeResult:
        with Body(id="body"):
            yield Label("Proofs", classes="section")
            yield LoadingIndicator(id="verifying")
            yield DataTable(id="proofs", cursor_type="row", show_cursor=False)
            yield Static("", id="verify-summary")
            yield Label("Saved", classes="section")
            yield Static(saved_text(self.state), id="saved", markup=False)
            yield Label("Next steps", classes="section")
            yield Static(next_steps_text(self.state), id="next-steps", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#proofs", DataTable)
        table.add_columns("", "host", "proof", "detail")
        super().on_mount()
        if self.state.verify_report is not None:
            self._show(self.state.verify_report)
        else:
            self.action_verify()

    def action_verify(self) -> None:
        if self.state.session is None:
            return
        self.query_one("#verifying").display = True
        self.query_one("#verify-summary", Static).update("Running the proofs …")
        self.verify_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify_worker(self) -> VerifyReport:
        return self.state.session.verify()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "verify":
            return
        if event.state == WorkerState.SUCCESS:
            self.state.verify_report = event.worker.result
            self._show(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.query_one("#verifying").display = False
            summary = self.query_one("#verify-summary", Static)
            summary.update(f"Verification could not run: {event.worker.error}")
            summary.set_classes("bad")

    def _show(self, report: VerifyReport) -> None:
        self.query_one("#verifying").display = False
        table = self.query_one("#proofs", DataTable)
        table.clear()
        for mark, host, proof, detail in proof_rows(report):
            table.add_row(mark, host, proof, detail[:60])
        summary = self.query_one("#verify-summary", Static)
        summary.update(verify_summary(report))
        summary.set_classes("ok" if report.ok else "bad")

    def collect(self):
        return True
