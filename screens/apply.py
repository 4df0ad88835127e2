"""Step 6: apply — per-host and overall progress, a live log, the failing step, cancel; the
inventory is saved only once everything applied."""

from __future__ import annotations

import shlex
import threading
from collections import Counter
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Label, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from screens.base import StepScreen
from wizard.inventory.model import default_inventory_path
from wizard.reports import apply_result_lines, event_line, interrupted_lines, safe_text
from wizard.session import ApplyResult


class ApplyEvent(Message):
    """One engine event (`on_event(host, level, message)`), posted from a worker thread."""

    def __init__(self, host: str, level: str, text: str) -> None:
        super().__init__()
        self.host, self.level, self.text = host, level, text


def finish_after_cancel(inventory_path: Path) -> str:
    """The command that completes a cancelled apply (the inventory is not saved yet)."""
    words = ["borgkeep"]
    if inventory_path.resolve() != default_inventory_path().resolve():
        words += ["--inventory", str(inventory_path)]
    return (
        f"save the inventory (ctrl+s on the next screen), then run `{shlex.join([*words, 'apply'])}`"
        " or this wizard again: the plan picks up where this one stopped"
    )


def host_outcome_text(done: int, total: int, skipped: int, failed: bool) -> str:
    if failed:
        return f"failed ({done} of {total} done, {skipped} skipped)"
    if skipped:
        return f"{done} of {total} done, {skipped} skipped"
    return "done" if done == total else f"{done} of {total} done"


class ApplyScreen(StepScreen):
    CSS_PATH = "apply.tcss"
    STEP_TITLE = "6/7 Apply"
    NEXT_LABEL = "Verify"
    SHOW_BACK = False
    HELP = (
        "The reviewed changes are applied in phases, hosts in parallel inside a phase (the "
        "server's new pruning files are written while the clients take their turn: nothing "
        "reads them before the server's crontab, written last). Every "
        "file is written atomically with a backup of what it replaces, and refused if it "
        "changed since the plan.\n\n**Cancel** (`ctrl+c`) lets the current step finish, "
        "skips the rest, then says what was done, what was skipped and how to finish. A failing host stops at its failing step; the others go on. Each "
        "bar shows the share of that host's changes actually applied.\n\n"
        "The inventory is saved when every change applied; after a cancel or a failure it "
        "is not (the next screen can save it on request)."
    )
    BINDINGS = [Binding("ctrl+c", "cancel", "Cancel", priority=True)]

    def __init__(self, state) -> None:
        super().__init__(state)
        self.cancel = threading.Event()
        self.plan = state.plan_to_apply()
        self.bars: dict[str, ProgressBar] = {}
        self.pending: dict[str, Counter[str]] = {}
        """Per host, the titles of the changes not done yet (two changes may share one)."""
        self.done: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.failed: set[str] = set()

    def compose_body(self) -> ComposeResult:
        hosts = [h for h in self.plan.hosts if self.plan.for_host(h)]
        with Vertical(id="body"):
            with Horizontal(id="overall-row"):
                yield Label("overall", classes="bar-label")
                yield ProgressBar(len(self.plan.changes), id="overall", show_eta=False)
                yield Button("Cancel", id="cancel", variant="error", compact=True)
            with VerticalScroll(id="host-bars"):
                for index, host in enumerate(hosts):
                    with Horizontal(classes="host-row"):
                        yield Label(host, classes="bar-label")
                        changes = self.plan.for_host(host)
                        self.pending[host] = Counter(c.title for c in changes)
                        self.done[host] = self.skipped[host] = 0
                        bar = ProgressBar(len(changes), id=f"bar-{index}", show_eta=False)
                        self.bars[host] = bar
                        yield bar
                        yield Static("waiting", id=f"status-{index}", classes="host-status")
            yield RichLog(id="apply-log", wrap=True, markup=False, max_lines=2000)
            yield Static("", id="apply-result", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.state.not_configured = dict(self.state.session.not_configured)
        self.state.session.on_event = self._event_from_thread
        self.apply_worker()

    def _event_from_thread(self, host: str, level: str, message: str) -> None:
        self.post_message(ApplyEvent(host, level, message))

    @work(thread=True, exclusive=True, exit_on_error=False, group="apply")
    def apply_worker(self) -> ApplyResult:
        return self.state.session.apply_reviewed(self.plan, cancel=self.cancel)

    def _log(self, host: str, level: str, text: str) -> None:
        self.query_one("#apply-log", RichLog).write(event_line(host, level, text))

    def _status(self, host: str) -> Static:
        return self.query_one(f"#status-{list(self.bars).index(host)}", Static)

    def on_apply_event(self, event: ApplyEvent) -> None:
        """Bars move only for changes that were applied: the facts gathered again before
        apply, skipped and failed steps do not count as done."""
        self._log(event.host, event.level, event.text)
        host = event.host
        if host not in self.bars:
            return
        status = self._status(host)
        step = self.pending[host][event.text] > 0
        if event.level == "done" and step:
            self.pending[host][event.text] -= 1
            self.done[host] += 1
            self.bars[host].advance(1)
            self.query_one("#overall", ProgressBar).advance(1)
        elif event.level == "skip":
            self.skipped[host] += 1
            status.update(f"{self.skipped[host]} skipped")
        elif event.level == "error":
            self.failed.add(host)
            status.update("failed")
            status.set_classes("host-status bad")
        elif event.level == "step" and host not in self.failed:
            status.update(safe_text(event.text, keep_newlines=False))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "apply":
            return
        result_view = self.query_one("#apply-result", Static)
        log = self.query_one("#apply-log", RichLog)
        if event.state == WorkerState.SUCCESS:
            result: ApplyResult = event.worker.result
            self.state.apply_result = result
            cancelled = self.cancel.is_set()
            complete = result.ok and not cancelled
            log_lines = apply_result_lines(result)
            if cancelled:  # what was done and skipped (in the log), and how to finish
                report = interrupted_lines(result, finish_after_cancel(self.state.inventory_path))
                verdict = [report[0], self._not_saved(True), report[-1]]
                log_lines += [*report[:-1], self._not_saved(True), report[-1]]
            else:
                verdict = ["All changes applied." if complete else "Some steps did not apply."]
                verdict.append(self._save_inventory() if complete else self._not_saved(False))
                log_lines += verdict
            result_view.update("\n".join(verdict))
            result_view.set_classes("ok" if complete else "bad")
            self._final_statuses(result)
            for line in log_lines:
                log.write(line)
        elif event.state == WorkerState.ERROR:
            message = f"Apply stopped: {safe_text(str(event.worker.error))}"
            self.state.apply_error = message
            result_view.update(f"{message}\n{self._not_saved(False)}")
            result_view.set_classes("bad")
            log.write(message)
        else:
            return
        self.query_one("#cancel", Button).display = False
        log.scroll_end(animate=False)
        self.refresh_nav()
        self.query_one("#next", Button).focus()

    def _final_statuses(self, result: ApplyResult) -> None:
        for host in self.bars:
            outcome = result.outcomes.get(host)
            total = self.bars[host].total or 0
            skipped = len(outcome.skipped) if outcome else self.skipped[host]
            failed = bool(outcome and outcome.error)
            status = self._status(host)
            status.update(host_outcome_text(self.done[host], int(total), skipped, failed))
            ok = not failed and not skipped and self.done[host] == total
            status.set_classes(f"host-status {'ok' if ok else 'bad' if failed else 'warn'}")

    def _save_inventory(self) -> str:
        try:
            self.state.save_inventory(self.state.session.inventory)
        except Exception as exc:
            return f"The inventory could NOT be saved to {self.state.inventory_path}: {exc}"
        return f"Inventory saved to {self.state.inventory_path}."

    def _not_saved(self, cancelled: bool) -> str:
        if cancelled:
            return "The inventory was NOT saved: the apply was cancelled."
        return (
            "The inventory was NOT saved: the apply did not complete. Rerun to finish, "
            "or save it on the next screen (ctrl+s)."
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.state.apply_result is None and not self.cancel.is_set()
        return super().check_action(action, parameters)

    def action_cancel(self) -> None:
        if self.state.apply_result is None and not self.cancel.is_set():
            self.cancel.set()
            self._log("", "skip", "cancel requested: finishing the current step")
            self.query_one("#cancel", Button).disabled = True
            self.refresh_bindings()

    def can_go_next(self) -> bool:
        return self.state.apply_result is not None or self.state.apply_error is not None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            event.stop()
            self.action_cancel()
            return
        super().on_button_pressed(event)
