"""Step 5: review — hosts → changes, the selected change's diff, counts, warnings, and which
hosts take part in this apply."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from screens.base import StepScreen
from screens.modals import ConfirmModal, PathModal, TakeoverModal, asking_session
from screens.plan_viewer import PlanViewer
from screens.review_takeover import PassphraseModal, review_order, takeover_firsts
from screens.review_texts import (
    confirmation_text,
    diff_title,
    host_label,
    host_note,
    takeover_lines,
    warnings_of,
    warnings_text,
)
from screens.takeover_choice import left_out_by_choice, remember_left_out
from wizard.reports import plan_headline, plan_summary, safe_text, wraps_by_default
from wizard.session import Change, FleetSession, Plan, TakeoverChoiceNeeded, takeover_choice

PLAN_FILE_NAME = "borgkeep.plan"


def gather_and_plan(session: FleetSession, leave_out: frozenset[str] = frozenset()) -> Plan:
    session.gather()
    return session.plan(leave_out=leave_out)


class ReviewScreen(StepScreen):
    CSS_PATH = "review.tcss"
    STEP_TITLE = "5/7 Review"
    NEXT_LABEL = "Apply…"
    HELP = (
        "Every change borgkeep would make, per host. Move through the tree to see each "
        "change's unified diff, headed by its host and full path; secrets are shown as "
        "`<secret: …>` and keys generated during apply as placeholders.\n\n"
        "Each host row starts with **[x]** (part of this apply) or **[ ]** (left out): `x` "
        "toggles it; clicks and Enter only open and close the tree. The server cannot be "
        "left out while clients stay in.\n\n"
        "`w` wraps long lines (on by default for authorized_keys and known_hosts, whose key "
        "lines are long), `m` maximises the diff (escape restores it), `p` saves the plan "
        "for `borgkeep apply PLANFILE`, `ctrl+s` saves the inventory without applying, "
        "`ctrl+r` gathers the facts and plans again.\n\n"
        "A client that already backs up to the server with Borg is asked about first: take "
        "its repository over (with its archives; its old configs and cron lines are retired), "
        "start a new repository beside it, or leave it out of this apply (the clients step "
        "asks first, when the server's facts are known). The takeover's steps are listed "
        "under the warnings, and its diffs come first in the tree. When its repository's "
        "passphrase is not in its old config (a passcommand) or does not open it, the review "
        "asks for it (never shown) and stores it where `borgkeep passphrase CLIENT` does."
    )
    BINDINGS = [
        Binding("x", "toggle_host", "In/out"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("m", "maximise", "Maximise"),
        Binding("p", "save_plan", "Save plan"),
        Binding("ctrl+s", "save_inventory", "Save inventory", show=False),
        Binding("ctrl+r", "replan", "Plan again", show=False),
    ]

    def __init__(self, state) -> None:
        super().__init__(state)
        self.passphrases_tried: set[str] = set()
        """Clients whose repository passphrase was given here (asked again: it was wrong)."""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static("", id="plan-summary", markup=False)
            yield PlanViewer(diff_title, wraps_by_default, id="review-main")
            yield LoadingIndicator(id="planning")
            yield Static("", id="plan-warnings", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.viewer.tree.focus()
        if self.state.plan is None:
            self.action_replan()
        else:
            self._show_plan()

    @property
    def viewer(self) -> PlanViewer:
        return self.query_one(PlanViewer)

    @property
    def shown(self) -> Change | None:
        """The change whose diff is on screen."""
        return self.viewer.shown

    # --- planning ---------------------------------------------------------------------

    def action_replan(self) -> None:
        self.plan_again(left_out=left_out_by_choice(self.state))

    def plan_again(self, left_out: set[str]) -> None:
        """Gather and plan on a new session (the inventory may have changed), with the
        hosts in `left_out` left out."""
        state = self.state
        try:
            inventory = state.to_inventory()
        except Exception as exc:
            self._show_error(f"The inventory is not valid:\n{exc}")
            return
        if state.session is not None:
            state.session.close()
        state.session = asking_session(self.app, inventory, state.accept_new_host_keys)
        state.plan = None
        state.left_out = set(left_out)
        self.query_one("#planning").display = True
        self.query_one("#plan-summary", Static).update(
            f"Connecting to {1 + len(inventory.clients)} host(s) and planning …"
        )
        self.refresh_nav()
        self.plan_worker(state.session, frozenset(left_out))

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def plan_worker(
        self, session: FleetSession, leave_out: frozenset[str], gather: bool = True
    ) -> Plan:
        if gather:
            return gather_and_plan(session, leave_out)
        return session.plan(leave_out=leave_out)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "plan":
            return
        if event.state == WorkerState.SUCCESS:
            self.state.plan = event.worker.result
            self._show_plan()
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            self._show_error(f"Planning failed: {safe_text(str(error))}")
            if isinstance(error, TakeoverChoiceNeeded):
                self.ask_takeover(error)
            elif isinstance(error, takeover_choice.TakeoverPassphraseNeeded):
                self.ask_passphrase(error)
        self.refresh_nav()

    # --- a client that already backs up with Borg -------------------------------------

    def ask_takeover(self, refusal: TakeoverChoiceNeeded) -> None:
        """Ask what to do with the repository found, then plan again (the next client
        with a choice to make raises again: one question after another)."""
        offers_beside = refusal.default not in refusal.found
        modal = TakeoverModal(refusal.host, safe_text(str(refusal)), offers_beside)
        self.app.push_screen(modal, lambda choice: self.takeover_chosen(refusal, choice))

    def takeover_chosen(self, refusal: TakeoverChoiceNeeded, choice: str | None) -> None:
        state = self.state
        host = refusal.host
        if choice is None:  # escape: the refusal stays on screen, nothing else happens
            return
        left_out = set(state.left_out)
        remember_left_out(state, host, choice == "leave")
        if choice == "leave":
            left_out.add(host)
            if state.session is not None and state.session.facts:
                state.plan, state.left_out = None, left_out
                self.query_one("#planning").display = True
                self.query_one("#plan-summary", Static).update(f"Planning without {host} …")
                self.plan_worker(state.session, frozenset(left_out), gather=False)
                return
            self.plan_again(left_out)
            return
        client = state.client(host)
        if client is None:
            return
        client.repository = refusal.found[0] if choice == "take" else refusal.default
        left_out.discard(host)
        self.plan_again(left_out)

    def ask_passphrase(self, refusal: takeover_choice.TakeoverPassphraseNeeded) -> None:
        """The repository to take over opens with no passphrase at hand: ask for it, store
        it as `borgkeep passphrase CLIENT` does, and plan again (asked again if wrong)."""
        session, host = self.state.session, refusal.host
        where = session.store.location if session is not None else "the secrets store"
        retry = host in self.passphrases_tried
        modal = PassphraseModal(host, safe_text(str(refusal)), where, retry)
        self.app.push_screen(modal, lambda value: self.passphrase_given(refusal.host, value))

    def passphrase_given(self, host: str, value: str | None) -> None:
        state = self.state
        if value is None or state.session is None:  # escape: the refusal stays on screen
            return
        try:
            takeover_choice.store_passphrase(state.session.store, state.server_name, host, value)
            self.passphrases_tried.add(host)
        except Exception as exc:  # the store's own words, never the value
            self.notify(f"The passphrase was not stored: {exc}", severity="error", timeout=10)
            return
        self.notify(
            f"Stored the passphrase of {host}'s repository in {state.session.store.location}."
        )
        self.plan_again(set(state.left_out) - {host})

    def _show_error(self, message: str) -> None:
        """No plan: nothing of an earlier one stays on screen to be read as this one's."""
        self.query_one("#planning").display = False
        self.viewer.clear()
        self.query_one("#plan-warnings", Static).update("")
        summary = self.query_one("#plan-summary", Static)
        summary.update(message)
        summary.set_classes("bad")

    def _show_plan(self, cursor_host: str | None = None) -> None:
        """The plan in the tree, on the host `cursor_host` (by default, on a takeover's
        first diff, or showing the first diff), its summary and its warnings."""
        plan = self.state.plan
        assert plan is not None
        self.query_one("#planning").display = False
        self.query_one("#plan-summary", Static).set_classes("")
        order = review_order(plan, self.state.server_name)
        takeover = takeover_firsts(plan)[1]
        firsts = (change for _, changes in order for change in changes if id(change) in takeover)
        cursor = cursor_host or next(firsts, None)
        rows = [(host, host_label(self.state, host), changes) for host, changes in order]
        viewer = self.viewer
        viewer.show_plan(rows, cursor=None if plan.empty else cursor)
        self._update_summary()
        self.query_one("#plan-warnings", Static).update(self._warnings_text())
        if plan.empty:
            viewer.show_note("", Content(plan_headline(plan)))
        if self.maximized is None:
            viewer.tree.focus()

    def _warnings_text(self) -> str:
        warnings = warnings_of(self.state)
        takeovers = takeover_lines(self.state.plan)
        box = self.query_one("#plan-warnings")
        box.set_class(bool(warnings), "warn")
        box.set_class(bool(takeovers), "-takeover")
        return warnings_text(takeovers, warnings)

    def _update_summary(self) -> None:
        plan = self.state.plan
        if plan is not None:
            self.query_one("#plan-summary", Static).update(plan_summary(plan, self.state.left_out))

    # --- the viewer -------------------------------------------------------------------

    @on(PlanViewer.Highlighted)
    def row_highlighted(self, event: PlanViewer.Highlighted) -> None:
        """A host's own row: what it takes part in, and its takeover, in place of a diff."""
        if event.change is None:
            self.viewer.show_note(
                Content.styled(event.host, "bold"), host_note(self.state, event.host)
            )

    def action_toggle_wrap(self) -> None:
        wrap = self.viewer.toggle_wrap()
        if wrap is not None:
            self.notify(f"Long lines {'wrap' if wrap else 'scroll sideways'}.", timeout=2)

    def action_maximise(self) -> None:
        self.viewer.toggle_maximise()

    # --- leaving hosts out ------------------------------------------------------------

    def action_toggle_host(self) -> None:
        host = self.viewer.host_of_cursor()
        if host is None or self.state.plan is None:
            return
        left_out = self.state.left_out
        server = self.state.server_name
        clients_in = [h for h in self.state.plan.hosts if h != server and h not in left_out]
        if host in left_out:
            if host != server and server in left_out:
                self.notify("Take the server in first: clients need it.", severity="warning")
                return
            left_out.discard(host)
            remember_left_out(self.state, host, False)
        else:
            if host == server and clients_in:
                self.notify(
                    "The server cannot be left out while clients stay in.", severity="error"
                )
                return
            left_out.add(host)
        try:
            self.state.plan = self.state.session.plan(leave_out=left_out)
        except TakeoverChoiceNeeded as refusal:  # taken back in: its choice is still open
            left_out.add(refusal.host)
            self.ask_takeover(refusal)
            return
        except takeover_choice.TakeoverPassphraseNeeded as refusal:  # or its passphrase
            left_out.add(refusal.host)
            self.ask_passphrase(refusal)
            return
        self._show_plan(cursor_host=host)
        self.refresh_nav()

    # --- saving -----------------------------------------------------------------------

    def action_save_inventory(self) -> None:
        session = self.state.session
        try:
            self.state.save_inventory(session.inventory if session else None)
        except Exception as exc:
            self.notify(f"The inventory was not saved: {exc}", severity="error", timeout=10)
            return
        self.notify(f"Inventory saved to {self.state.inventory_path}", timeout=5)

    def action_save_plan(self) -> None:
        if self.state.plan is None or self.state.session is None:
            self.notify("There is no plan yet.", severity="warning")
            return
        default = self.state.inventory_path.parent / PLAN_FILE_NAME
        body = (
            "The plan holds no secrets. borgkeep apply PLANFILE applies exactly it, or "
            "refuses if any host changed since. It names the inventory it was made from, "
            f"so the inventory is saved too, to {self.state.inventory_path}."
        )
        self.app.push_screen(PathModal("Save the plan", body, str(default)), self._save_plan_to)

    def _save_plan_to(self, path: Path | None) -> None:
        if path is None:
            return
        session = self.state.session
        try:
            self.state.save_inventory(session.inventory)
            session.save_plan(self.state.plan, path, self.state.inventory_path)
        except Exception as exc:
            self.notify(f"The plan was not saved: {exc}", severity="error", timeout=10)
            return
        self.notify(f"Plan saved to {path}.\nApply it with: borgkeep apply {path}", timeout=10)

    # --- next -------------------------------------------------------------------------

    def can_go_next(self) -> bool:
        return self.state.plan is not None and self.state.session is not None

    def action_next(self) -> None:
        if not self.can_go_next():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(True)

        self.app.push_screen(
            ConfirmModal("Apply the plan?", confirmation_text(self.state), yes="Apply"), answered
        )
