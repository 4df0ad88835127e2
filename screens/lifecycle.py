"""A client's later life in the wizard: retire it, give it a new key, recover it after a
guard refusal, restore a file onto it.

Reached from the Clients step (`ctrl+t` on a client of the saved inventory) or the command
palette; `open_client_action` is the one way in, for any screen. One screen per request:
its options, then the plan — what to read first, the changes per host, the selected
change's diff — and, after a confirmation, the apply with its log. The engine calls are
the CLI's: `FleetSession.plan_lifecycle`, then `apply_lifecycle`, which plans again under
the server's lock and applies only what was reviewed.
"""

from __future__ import annotations

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    LoadingIndicator,
    RadioSet,
    RichLog,
    Static,
)
from textual.worker import Worker, WorkerState

from screens.base import StepScreen
from screens.lifecycle_options import LifecycleOptions
from screens.modals import ConfirmModal, ask_host_key_from_thread
from screens.plan_viewer import PlanViewer
from wizard.reports import (
    change_heading,
    event_line,
    lifecycle_result_lines,
    lifecycle_title,
    plan_headline,
    safe_text,
)
from wizard.session import (
    Change,
    FleetSession,
    LifecycleOutcome,
    LifecyclePlan,
    LifecycleRequest,
)

ACTION_LABELS = {
    "remove": "Retire it: its key, jobs and files leave every host",
    "rotate-key": "Give it a new key (the old one is proven refused)",
    "recover": "Recover after a guard refusal (acknowledge or roll back)",
    "restore": "Restore a file onto it",
}


def lifecycle_diff_title(change: Change, wrap: bool, maximised: bool) -> Content:
    """The change's heading, then what it is (a command's heading says it) and the key."""
    size = "restore (m)" if maximised else "maximise (m)"
    about = size if change.kind == "command" else f"{change.description} · {size}"
    return Content.assemble((change_heading(change), "bold"), "\n", (about, "dim"))


def wraps_always(change: Change) -> bool:
    """A lifecycle change's diff wraps (a few short lines, or a key line to read whole)."""
    return True


def new_session(state) -> FleetSession:
    """A session of its own on the saved inventory (the one the hosts were set up from)."""
    inventory = state.saved if state.saved is not None else state.to_inventory()
    return FleetSession(inventory, accept_new_host_keys=state.accept_new_host_keys)


def open_client_action(
    app: App, state, client: str, action: str | None = None, on_done=None
) -> None:
    """Ask which action (unless given), then open its screen for `client`; `on_done` gets
    the `LifecycleOutcome` (None when nothing was applied) when the screen closes."""

    def closed(result) -> None:
        if on_done is not None:
            on_done(result if isinstance(result, LifecycleOutcome) else None)

    def chosen(picked: str | None) -> None:
        if picked:
            app.push_screen(LifecycleScreen(state, picked, client), closed)

    if action is None:
        app.push_screen(ActionMenu(client), chosen)
    else:
        chosen(action)


class ActionMenu(ModalScreen[str | None]):
    """What to do with one client; escape cancels."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, client: str) -> None:
        super().__init__()
        self.client = client

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"{self.client}: what now?", id="dialog-title", markup=False)
            for action, label in ACTION_LABELS.items():
                yield Button(label, id=f"do-{action}", compact=True, classes="menu-choice")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        self.dismiss(button.removeprefix("do-") if button.startswith("do-") else None)


class LifecycleEvent(Message):
    def __init__(self, host: str, level: str, text: str) -> None:
        super().__init__()
        self.host, self.level, self.text = host, level, text


class LifecycleScreen(StepScreen):
    """One request on one client: options, plan (ctrl+r), apply (ctrl+n), close (escape)."""

    CSS_PATH = "lifecycle.tcss"
    NEXT_LABEL = "Apply…"
    HELP = (
        "What Borgkeep would change for this request, per host, as diffs — exactly what "
        "`borgkeep remove`, `rotate-key`, `recover` or `restore` prints. `ctrl+r` plans "
        "(again) after you change an option; **Apply…** asks once more, then plans again "
        "under the server's lock and applies only if nothing changed since.\n\n"
        "**Retire**: the key line, prune job and guard entry leave the server, its prune "
        "config and passphrase are deleted, and the client's own files go; the repository "
        "stays unless you tick *delete its repository* and type the client's name. "
        "**New key**: generated on the client; the old one is proven refused, the new one "
        "proven to work. **Recover**: what vanished, then acknowledge it or roll back. "
        "**Restore**: an absolute path as it was on the client, into a new directory "
        "unless you choose one (an existing one only with *replace*)."
    )
    BINDINGS = [
        Binding("ctrl+n", "next", "Apply…", priority=True),
        Binding("ctrl+r", "plan", "Plan"),
        Binding("m", "maximise", "Maximise", show=False),
    ]

    def __init__(self, state, action: str, client: str) -> None:
        super().__init__(state)
        self.action, self.client = action, client
        self.STEP_TITLE = lifecycle_title(action, client)
        self.session: FleetSession | None = None
        self.planned: LifecyclePlan | None = None
        self.outcome: LifecycleOutcome | None = None
        self.busy = False

    # --- layout -------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield LifecycleOptions(self.action, self.client, id="lc-options")
            yield Static("", id="lc-notes", markup=False)
            yield PlanViewer(lifecycle_diff_title, wraps_always, prefix="lc-", id="lc-main")
            yield LoadingIndicator(id="lc-working")
            yield Static("", id="lc-status", markup=False)
            yield RichLog(id="lc-log", wrap=True, markup=False, max_lines=500)

    def on_mount(self) -> None:
        self.previous_title = self.app.sub_title
        super().on_mount()
        self.query_one("#lc-working").display = False
        self.query_one("#lc-log").display = False
        if self.action in ("remove", "rotate-key", "recover"):
            self.action_plan()

    # --- the request --------------------------------------------------------------------

    def request(self) -> LifecycleRequest | str:
        """The request the options describe, or why there is none yet."""
        return self.query_one(LifecycleOptions).request()

    @on(RadioSet.Changed)
    @on(Checkbox.Changed, "#purge")
    @on(Checkbox.Changed, "#overwrite")
    def option_changed(self) -> None:
        self._forget_plan()

    def _forget_plan(self) -> None:
        if self.outcome is None:
            self.planned = None
            self._status("options changed: ctrl+r plans again")
            self.refresh_nav()

    # --- planning -----------------------------------------------------------------------

    def action_plan(self) -> None:
        if self.busy or self.outcome is not None:
            return
        request = self.request()
        if isinstance(request, str):
            self._status(request, bad=True)
            return
        self.busy = True
        self.planned = None
        self.query_one("#lc-working").display = True
        self._status(f"connecting and planning {lifecycle_title(self.action, self.client)} …")
        self.refresh_nav()
        if self.session is None:
            self.session = new_session(self.state)
            app = self.app
            self.session.on_unknown_host_key = lambda *a: ask_host_key_from_thread(app, *a)
        self.plan_worker(self.session, request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="lifecycle-plan")
    def plan_worker(self, session: FleetSession, request: LifecycleRequest) -> LifecyclePlan:
        return session.plan_lifecycle(request)

    def _show_plan(self, planned: LifecyclePlan) -> None:
        self.planned = planned
        notes = [*planned.notes]
        if planned.choice:
            notes.append("Choose Acknowledge or Roll back above, then plan again (ctrl+r).")
        elif planned.plan.empty:
            notes.append(plan_headline(planned.plan, "Nothing to do."))
        self.query_one("#lc-notes", Static).update("\n".join(safe_text(n, False) for n in notes))
        rows = [
            (host, f"{host} · {len(changes)} change(s)", changes)
            for host in planned.plan.hosts
            if (changes := planned.plan.for_host(host))
        ]
        first = self.query_one(PlanViewer).show_plan(rows)
        self.query_one("#lc-main").display = first is not None
        self.query_one("#lc-notes").set_class(first is None, "-alone")
        count = len(planned.plan.changes)
        self._status(f"{count} change(s) planned; Apply… to apply them" if count else "")

    def action_maximise(self) -> None:
        self.query_one(PlanViewer).toggle_maximise()

    # --- applying -----------------------------------------------------------------------

    def can_go_next(self) -> bool:
        if self.outcome is not None:
            return True
        planned = self.planned
        return bool(planned and not planned.choice and not planned.empty and not self.busy)

    def action_next(self) -> None:
        if self.outcome is not None:
            self.dismiss(self.outcome)
            return
        if not self.can_go_next():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply()

        hosts = [h for h in self.planned.plan.hosts if self.planned.plan.for_host(h)]
        body = (
            f"{lifecycle_title(self.action, self.client)}: apply "
            f"{len(self.planned.plan.changes)} change(s) on {', '.join(hosts)}?\n\n"
            "Borgkeep plans again under the server's lock first and applies nothing if "
            "anything changed since this plan."
        )
        self.app.push_screen(ConfirmModal("Apply?", body, yes="Apply"), answered)

    def _apply(self) -> None:
        self.query_one("#lc-log").display = True
        self.busy = True
        self.query_one("#lc-working").display = True
        self._status("applying …")
        self.refresh_nav()
        session = self.session
        session.on_event = lambda host, level, text: self.post_message(
            LifecycleEvent(host, level, text)
        )
        self.apply_worker(session, self.planned)

    @work(thread=True, exclusive=True, exit_on_error=False, group="lifecycle-apply")
    def apply_worker(self, session: FleetSession, planned: LifecyclePlan) -> LifecycleOutcome:
        return session.apply_lifecycle(planned)

    def on_lifecycle_event(self, event: LifecycleEvent) -> None:
        self.query_one("#lc-log", RichLog).write(event_line(event.host, event.level, event.text))

    def _applied(self, outcome: LifecycleOutcome) -> None:
        self.outcome = outcome
        log = self.query_one("#lc-log", RichLog)
        for line in lifecycle_result_lines(outcome):
            log.write(line)
        if outcome.ok and outcome.inventory is not None:
            try:
                self.state.save_inventory(outcome.inventory)
                self.state.clients = [c for c in self.state.clients if c.name != self.client]
                self.state.invalidate_plan()
                log.write(f"{self.client} left the inventory ({self.state.inventory_path})")
            except Exception as exc:
                log.write(f"the inventory could NOT be saved: {exc}")
        verdict = "done" if outcome.ok else "some steps did not apply: see the log"
        self._status(f"{verdict}; Close (ctrl+n or escape)", bad=not outcome.ok)
        self.query_one("#next").label = "Close"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group not in ("lifecycle-plan", "lifecycle-apply"):
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.busy = False
        self.query_one("#lc-working").display = False
        if event.state == WorkerState.ERROR:
            what = "Planning" if group == "lifecycle-plan" else "Applying"
            self._status(f"{what} failed: {safe_text(str(event.worker.error), False)}", bad=True)
        elif group == "lifecycle-plan":
            self._show_plan(event.worker.result)
        else:
            self._applied(event.worker.result)
        self.refresh_nav()

    def _status(self, text: str, bad: bool = False) -> None:
        status = self.query_one("#lc-status", Static)
        status.update(text)
        status.set_class(bad, "bad")

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.close()
        self.app.sub_title = self.previous_title
