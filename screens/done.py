"""Step 7: verify and done — the post-apply proofs per host, what was and was not configured,
where things were saved (and how to keep a copy of the secrets), next steps."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Button, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from screens.base import ReadingBody, StepScreen
from wizard.inventory.settings import client_schedule
from wizard.reports import (
    client_commands,
    event_line,
    first_backup_line,
    proof_rows,
    safe_text,
    verify_summary,
)
from wizard.session import FirstBackup, VerifyReport


def not_configured(state) -> dict[str, str]:
    """Hosts this run did not (fully) set up, and why: unreachable or left out when the plan
    was applied, or stopped by a failed or cancelled step."""
    reasons = dict(state.not_configured)
    result = state.apply_result
    for host, outcome in (result.outcomes if result else {}).items():
        if outcome.error is not None:
            reasons[host] = f"apply failed at {outcome.error.step}"
        elif outcome.skipped:
            reasons[host] = f"{len(outcome.skipped)} step(s) skipped"
    return reasons


def next_steps_text(state) -> str:
    session = state.session
    inventory = session.inventory if session else state.to_inventory()
    now = state.now or datetime.now()
    skipped = not_configured(state)
    lines = []
    for client in inventory.clients:
        if client.name in skipped:
            lines.append(
                f"• {client.name} is NOT configured ({safe_text(skipped[client.name], False)}): "
                "run borgkeep again to set it up"
            )
            continue
        first = croniter(client_schedule(client), now).get_next(datetime)
        made = (state.first_backups or {}).get(client.name)
        if made is not None and made.ok:
            lines.append(
                f"• {client.name} backed up now (Back up now); next backup: "
                f"{first:%a %d %b %H:%M} (cron)"
            )
        else:
            lines.append(f"• first backup of {client.name}: {first:%a %d %b %H:%M} (cron)")
        facts = session.facts.get(client.name) if session else None
        if facts is not None:
            commands = client_commands(client.name, facts)
            lines.append(f"  back up now, as {commands.login} on {client.name}:")
            lines.append(f"    {commands.backup}")
            lines.append(f"  list archives:  {commands.list}")
            first = client.source_directories[0]
            lines.append(f"  restore {first} into /tmp{first}:")
            lines.append(f"    {commands.restore(first)}")
    if session is None:
        lines += [
            "• back up now on a client: borgmatic -c CONFIG create --verbosity 1 --stats",
            "• restore files:  borgmatic -c CONFIG extract --archive latest --path etc/hosts",
        ]
    lines.append("• add hosts later: run borgkeep again; the inventory is remembered.")
    return "\n".join(lines)


def saved_text(state) -> str:
    if state.inventory_saved:
        lines = [f"Inventory: saved to {state.inventory_path}"]
        if not_configured(state):
            lines.append("  (clients not configured stay in it, so the next run sets them up)")
    else:
        lines = [
            f"Inventory: NOT saved (the apply did not complete); ctrl+s saves it to "
            f"{state.inventory_path}"
        ]
    session = state.session
    if session is not None:
        lines.append("Secrets (repository passphrases and keys; without them no backup can be")
        lines.append("restored):")
        lines += [f"  {line}" for line in session.store.backup_advice(session.secret_names())]
        result = state.apply_result
        if result is not None:
            for host, name in result.exported_keys.items():
                lines.append(f"  repository key of {host}: exported there as {name!r}")
    return "\n".join(lines)


def proofs_text(report: VerifyReport) -> str:
    """One line per proof (wrapping, never cut): mark, host, proof, detail."""
    return "\n".join(
        f"{mark} {host}: {proof}" + (f" — {detail}" if detail else "")
        for mark, host, proof, detail in proof_rows(report)
    )


def configured_clients(state) -> list[str]:
    """The clients this run set up: every client of the applied inventory but those
    unreachable, left out, or stopped by a failed or cancelled step."""
    if state.session is None:
        return []
    skipped = not_configured(state)
    return [c.name for c in state.session.inventory.clients if c.name not in skipped]


BACKUPS_HINT = (
    "Each client backs up on its schedule. To see an archive now, Back up now "
    "(b) runs every configured client's backup job at once, as cron would."
)


class BackupProgress(Message):
    """One client's first backup started or ended (posted from the worker thread)."""

    def __init__(self, host: str, level: str, message: str) -> None:
        super().__init__()
        self.host, self.level, self.message = host, level, message


class DoneScreen(StepScreen):
    CSS_PATH = "done.tcss"
    STEP_TITLE = "7/7 Verify and done"
    NEXT_LABEL = "Finish"
    SHOW_BACK = False
    HELP = (
        "The proofs are read-only: each client's config validates with its own borgmatic, "
        "`borg info` works through the client's pinned key, the key gets no shell and no "
        "other repository, `--append-only` is forced, and the server's prune config matches "
        "the client's archives (`--dry-run`). `ctrl+r` runs them again.\n\n"
        "**Back up now** (`b`) runs the first backup on every configured client at once "
        "instead of waiting for its schedule: exactly the job in its crontab, as cron runs "
        "it, in parallel; then the proofs run again, and the guard's check counts the "
        "archives.\n\n"
        "Clients that were unreachable or left out are **not configured**; they stay in the "
        "inventory so that the next run sets them up. The inventory is saved after a "
        "complete apply; `ctrl+s` saves it in any case."
    )
    BINDINGS = [
        Binding("b", "first_backups", "Back up"),
        Binding("ctrl+r", "verify", "Verify again"),
        Binding("ctrl+s", "save_inventory", "Save inventory"),
    ]
    busy: str | None = None
    """`verify` or `backups` while that worker runs (they share the session's connections)."""

    def compose_body(self) -> ComposeResult:
        with ReadingBody(id="body"):
            yield Label("Proofs", classes="section")
            yield LoadingIndicator(id="verifying")
            yield Static("", id="proofs", markup=False)
            yield Static("", id="verify-summary", markup=False)
            yield Label("First backups", classes="section")
            yield Static(BACKUPS_HINT, id="backups-hint", classes="hint")
            yield LoadingIndicator(id="backing-up")
            yield Static("", id="backups", markup=False)
            yield Label("Saved", classes="section")
            yield Static(saved_text(self.state), id="saved", markup=False)
            yield Label("Next steps", classes="section")
            yield Static(next_steps_text(self.state), id="next-steps", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#body").focus()
        self.query_one("#nav").mount(
            Button("Back up now", id="first-backups", compact=True), before="#next"
        )
        self.query_one("#backing-up").display = False
        self.progress: dict[str, str] = {}
        if self.state.first_backups:
            self._show_backups(self.state.first_backups)
        if self.state.verify_report is not None:
            self._show(self.state.verify_report)
        else:
            self.action_verify()
        self._refresh_controls()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "first_backups" and self._why_no_backups():
            return True  # greyed button, but `b` says why
        if action in ("first_backups", "verify") and not self._can(action):
            return None
        return super().check_action(action, parameters)

    def _can(self, action: str) -> bool:
        if self.busy is not None or self.state.session is None:
            return False
        return action != "first_backups" or bool(configured_clients(self.state))

    def _why_no_backups(self) -> str | None:
        """Why Back up now is off although nothing runs: no client was set up by this run."""
        if self.busy is not None or self.state.session is None:
            return None
        if configured_clients(self.state):
            return None
        cancelled = "the apply was cancelled, so " if self.state.apply_result else ""
        return (
            f"Back up now is off: {cancelled}no client is configured yet (see Next steps). "
            "Run borgkeep again to finish the set-up, then back up."
        )

    def _refresh_controls(self) -> None:
        self.query_one("#first-backups", Button).disabled = not self._can("first_backups")
        why = self._why_no_backups()
        hint = self.query_one("#backups-hint", Static)
        hint.update(why or BACKUPS_HINT)
        hint.set_classes("hint warn" if why else "hint")
        self.refresh_bindings()

    def action_verify(self) -> None:
        if self.state.session is None:
            self.query_one("#verifying").display = False
            return
        if self.busy is not None:
            return
        self.busy = "verify"
        self.query_one("#verifying").display = True
        self.query_one("#verify-summary", Static).update("Running the proofs …")
        self._refresh_controls()
        self.verify_worker()

    # --- first backups ----------------------------------------------------------------

    def action_first_backups(self) -> None:
        why = self._why_no_backups()
        if why:
            self.notify(why, severity="warning", timeout=8)
            return
        if not self._can("first_backups"):
            return
        clients = configured_clients(self.state)
        self.busy = "backups"
        self.progress = {name: f"· {name}: waiting" for name in clients}
        self.query_one("#backing-up").display = True
        self.query_one("#backups", Static).update("\n".join(self.progress.values()))
        self.query_one("#backups").scroll_visible(top=False)
        self._refresh_controls()
        self.backups_worker(clients)

    @work(thread=True, exclusive=True, exit_on_error=False, group="backups")
    def backups_worker(self, clients: list[str]) -> dict[str, FirstBackup]:
        return self.state.session.first_backups(
            clients, on_event=lambda *event: self.post_message(BackupProgress(*event))
        )

    def on_backup_progress(self, message: BackupProgress) -> None:
        if self.busy != "backups" or message.host not in self.progress:
            return
        self.progress[message.host] = event_line(message.host, message.level, message.message)
        self.query_one("#backups", Static).update("\n".join(self.progress.values()))

    def _show_backups(self, outcomes: dict[str, FirstBackup]) -> None:
        lines = [first_backup_line(outcome) for outcome in outcomes.values()]
        made = sum(outcome.ok for outcome in outcomes.values())
        lines.append(f"{made} of {len(outcomes)} client(s) backed up.")
        view = self.query_one("#backups", Static)
        view.update("\n".join(lines))
        view.set_classes("ok" if made == len(outcomes) else "bad")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "first-backups":
            event.stop()
            self.action_first_backups()
            return
        super().on_button_pressed(event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify_worker(self) -> VerifyReport:
        return self.state.session.verify()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "backups":
            self._backups_finished(event)
            return
        if event.worker.group != "verify" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        self.busy = None
        self._refresh_controls()
        if event.state == WorkerState.SUCCESS:
            self.state.verify_report = event.worker.result
            self._show(event.worker.result)
            self.query_one("#next-steps", Static).update(next_steps_text(self.state))
        elif event.state == WorkerState.ERROR:
            self.query_one("#verifying").display = False
            summary = self.query_one("#verify-summary", Static)
            summary.update(f"Verification could not run: {safe_text(str(event.worker.error))}")
            summary.set_classes("bad")

    def _backups_finished(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.busy = None
        self.query_one("#backing-up").display = False
        if event.state == WorkerState.SUCCESS:
            self.state.first_backups = dict(event.worker.result)
            self._show_backups(self.state.first_backups)
            self.query_one("#next-steps", Static).update(next_steps_text(self.state))
            self.action_verify()  # the guard's check now counts the new archives
        else:
            view = self.query_one("#backups", Static)
            view.update(f"The backups could not run: {safe_text(str(event.worker.error))}")
            view.set_classes("bad")
        self._refresh_controls()

    def _show(self, report: VerifyReport) -> None:
        self.query_one("#verifying").display = False
        self.query_one("#proofs", Static).update(proofs_text(report))
        summary = self.query_one("#verify-summary", Static)
        summary.update(verify_summary(report))
        summary.set_classes("ok" if report.ok else "bad")

    def action_save_inventory(self) -> None:
        session = self.state.session
        try:
            self.state.save_inventory(session.inventory if session else None)
        except Exception as exc:
            self.notify(f"The inventory was not saved: {exc}", severity="error", timeout=10)
            return
        self.query_one("#saved", Static).update(saved_text(self.state))
        self.notify(f"Inventory saved to {self.state.inventory_path}", timeout=5)

    def collect(self):
        return True
