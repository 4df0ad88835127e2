"""Step 6: apply — per-host and overall progress, a live log, the failing step, cancel."""

from __future__ import annotations

import threading

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Label, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from screens.base import StepScreen
from wizard.inventory.model import save_inventory
from wizard.reports import apply_result_lines, event_line
from wizard.session import ApplyResult

COUNTED_LEVELS = ("done", "error", "skip")


class ApplyEvent(Message):
    """One engine event (`on_event(host, level, message)`), posted from a worker thread."""

    def __init__(self, host: str, level: str, text: str) -> None:
        super().__init__()
        self.host, self.level, self.text = host, level, text


class ApplyScreen(StepScreen):
    CSS_PATH = "apply.tcss"
    STEP_TITLE = "6/7 Apply"
    NEXT_LABEL = "Verify"
    SHOW_BACK = False
    HELP = (
        "The reviewed changes are applied in phases, hosts in parallel inside a phase. Every "
        "file is written atomically with a backup of what it replaces, and refused if it "
        "changed since the plan.\n\n**Cancel** (`ctrl+c`) lets the current step finish and "
        "skips the rest. A failing host stops at its failing step; the others go on."
    )
    BINDINGS = [Binding("ctrl+c", "cancel", "Cancel", priority=True)]

    def __init__(self, state) -> None:
        super().__init__(state)
        self.cancel = threading.Event()
        self.plan = state.plan_to_apply()
        self.bars: dict[str, ProgressBar] = {}

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
                        bar = ProgressBar(
                            len(self.plan.for_host(host)), id=f"bar-{index}", show_eta=False
                        )
                        self.bars[host] = bar
                        yield bar
                        yield Static("waiting", id=f"status-{index}", classes="host-status")
            yield RichLog(id="apply-log", wrap=True, markup=False, max_lines=2000)
            yield Static("", id="apply-result", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        state = self.state
        try:
            save_inventory(state.session.inventory, state.inventory_path)
            self._log("", "info", f"inventory saved to {state.inventory_path}")
        except OSError as exc:
            self._log("", "error", f"could not save the inventory: {exc}")
        state.session.on_event = self._event_from_thread
        self.apply_worker()

    def _event_from_thread(self, host: str, level: str, message: str) -> None:
        self.post_message(ApplyEvent(host, level, message))

    @work(thread=True, exclusive=True, exit_on_error=False, group="apply")
    def apply_worker(self) -> ApplyResult:
        return self.state.session.apply_reviewed(self.plan, cancel=self.cancel)

    def _log(self, host: str, level: str, text: str) -> None:
        self.query_one("#apply-log", RichLog).write(event_line(host, level, text))

    def on_apply_event(self, event: ApplyEvent) -> None:
        self._log(event.host, event.level, event.text)
        bar = self.bars.get(event.host)
        if event.level in COUNTED_LEVELS:
            self.query_one("#overall", ProgressBar).advance(1)
            if bar is not None:
                bar.advance(1)
        if bar is not None:
            index = list(self.bars).index(event.host)
            status = self.query_one(f"#status-{index}", Static)
            if event.level == "error":
                status.update("failed")
                status.set_classes("host-status bad")
            elif not status.has_class("bad"):
                status.update(event.text if event.level == "step" else event.level)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "apply":
            return
        result_view = self.query_one("#apply-result", Static)
        if event.state == WorkerState.SUCCESS:
            result: ApplyResult = event.worker.result
            self.state.apply_result = result
            lines = apply_result_lines(result)
            if self.cancel.is_set():
                lines.append("Cancelled: the remaining steps were skipped.")
            lines.append("All changes applied." if result.ok else "Some steps did not apply.")
            result_view.update("\n".join(lines))
            result_view.set_classes("ok" if result.ok else "bad")
            for index, host in enumerate(self.bars):
                outcome = result.outcomes.get(host)
                if outcome is not None and outcome.ok:
                    status = self.query_one(f"#status-{index}", Static)
                    status.update("done")
                    status.set_classes("host-status ok")
        elif event.state == WorkerState.ERROR:
            result_view.update(f"Apply stopped: {event.worker.error}")
            result_view.set_classes("bad")
        else:
            return
        self.query_one("#cancel", Button).disabled = True
        self.refresh_nav()

    def action_cancel(self) -> None:
        if self.state.apply_result is None and not self.cancel.is_set():
            self.cancel.set()
            self._log("", "skip", "cancel requested: finishing the current step")

    def can_go_next(self) -> bool:
        return self.state.apply_result is not None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            event.stop()
            self.action_cancel()
            return
        super().on_button_pressed(event)
