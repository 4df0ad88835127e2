"""Step 5: review — hosts → changes, the selected change's diff, counts, warnings, and which
hosts take part in this apply."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import LoadingIndicator, Static, Tree
from textual.worker import Worker, WorkerState

from screens.base import StepScreen
from screens.diff_view import DiffView
from screens.modals import ConfirmModal, PathModal, TakeoverModal, asking_session
from screens.review_takeover import PassphraseModal, review_order, takeover_firsts
from screens.takeover_choice import left_out_by_choice, remember_left_out
from wizard.reports import (
    change_heading,
    change_label,
    phase_name,
    plan_headline,
    plan_summary,
    safe_text,
    wraps_by_default,
)
from wizard.session import (
    Change,
    FleetSession,
    Plan,
    TakeoverChoiceNeeded,
    plan_warnings,
    takeover_choice,
)

PLAN_FILE_NAME = "borgkeep.plan"


def diff_title(change: Change, wrap: bool, maximised: bool = False) -> Content:
    """The full heading (host, verb, whole path), the phase, and the keys for this view."""
    about = phase_name(change)
    if change.kind in ("file", "crontab") and change.description:
        about += f" · {change.description}"
    size = "restore (m or esc)" if maximised else "maximise (m)"
    return Content.assemble(
        (change_heading(change), "bold"),
        "\n",
        (f"{about} · wrap {'on' if wrap else 'off'} (w) · {size}", "dim"),
    )


def gather_and_plan(session: FleetSession, leave_out: frozenset[str] = frozenset()) -> Plan:
    session.gather()
    return session.plan(leave_out=leave_out)


class DiffBox(VerticalScroll):
    """The diff of the selected change; `m` maximises it (escape or `m` restores)."""

    ALLOW_MAXIMIZE = True


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
        self.wrap_choice: bool | None = None
        """None: wrap key lines only; True/False: the operator's choice for every diff."""
        self.shown: Change | None = None
        self.passphrases_tried: set[str] = set()
        """Clients whose repository passphrase was given here (asked again: it was wrong)."""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static("", id="plan-summary", markup=False)
            with Horizontal(id="review-main"):
                yield Tree("plan", id="plan-tree")
                with DiffBox(id="diff-box"):
                    yield Static("", id="diff-title")
                    yield DiffView("", id="diff")
            yield LoadingIndicator(id="planning")
            yield Static("", id="plan-warnings", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#plan-tree", Tree).focus()
        if self.state.plan is None:
            self.action_replan()
        else:
            self._show_plan()

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
        self.query_one("#plan-tree", Tree).clear()
        self.shown = None
        self.query_one("#diff-title", Static).update("")
        self.query_one("#diff", DiffView).update("")
        self.query_one("#plan-warnings", Static).update("")
        summary = self.query_one("#plan-summary", Static)
        summary.update(message)
        summary.set_classes("bad")

    def _show_plan(self, cursor_host: str | None = None) -> None:
        plan = self.state.plan
        assert plan is not None
        self.query_one("#planning").display = False
        self.query_one("#plan-summary", Static).set_classes("")
        tree = self.query_one("#plan-tree", Tree)
        tree.clear()
        tree.root.expand()
        tree.show_root = False
        first = cursor = None
        takeover = takeover_firsts(plan)[1]
        for host, changes in review_order(plan, self.state.server_name):
            host_node = tree.root.add(self._host_label(host), data=("host", host), expand=True)
            cursor = host_node if host == cursor_host else cursor
            for change in changes:
                leaf = host_node.add_leaf(Text(change_label(change)), data=("change", change))
                first = first or leaf
                if cursor_host is None and cursor is None and id(change) in takeover:
                    cursor = leaf  # a takeover opens on its own diffs
        self._update_summary()
        self.query_one("#plan-warnings", Static).update(self._warnings_text())
        if plan.empty:
            self.shown = None
            self.query_one("#diff-title", Static).update("")
            diff = self.query_one("#diff", Static)
            diff.add_class("-wrap")
            diff.update(Content(plan_headline(plan)))
        elif cursor is not None:
            self.call_after_refresh(self._cursor_to, cursor)
        elif first is not None:
            self._show_change(first.data[1])
        if self.maximized is None:
            tree.focus()

    def _cursor_to(self, node) -> None:
        """Move the tree's cursor to `node` once the rebuilt tree has placed it in a line
        (`last_line` builds the lines; a node not placed yet has line -1)."""
        tree = self.query_one("#plan-tree", Tree)
        last = tree.last_line
        if 0 <= node.line <= last:
            tree.move_cursor(node)

    def _warnings_text(self) -> str:
        plan = self.state.plan
        warnings = plan_warnings(plan) if plan else []
        session = self.state.session
        if session is not None:
            warnings += [
                f"{host} is unreachable and will NOT be configured: {why}"
                for host, why in session.errors.items()
            ]
            if session.store.warning:
                warnings.append(session.store.warning)
        takeovers = [f"↻ {line}" for line in self._takeover_lines()]
        box = self.query_one("#plan-warnings")
        box.set_class(bool(warnings), "warn")
        box.set_class(bool(takeovers), "-takeover")
        lines = takeovers + [f"⚠ {safe_text(w, keep_newlines=False)}" for w in warnings]
        return "\n".join(lines) if lines else "No warnings."

    def _takeover_lines(self, host: str | None = None) -> list[str]:
        """What each takeover in the plan changes (`Takeover.describe()`), by client."""
        plan = self.state.plan
        takeovers = plan.takeovers if plan is not None else {}
        return [
            safe_text(f"{client}: {line}", keep_newlines=False)
            for client, takeover in takeovers.items()
            if host in (None, client)
            for line in takeover.describe()
        ]

    def _host_label(self, host: str) -> Text:
        plan = self.state.plan
        n = len(plan.for_host(host)) if plan else 0
        role = " (server)" if host == self.state.server_name else ""
        if host in self.state.left_out:
            return Text.assemble(("[ ] ", "bold"), f"{host}{role} · left out", style="dim")
        return Text.assemble(("[x] ", "bold"), f"{host}{role} · {n} change{'s' * (n != 1)}")

    def _update_summary(self) -> None:
        plan = self.state.plan
        if plan is not None:
            self.query_one("#plan-summary", Static).update(plan_summary(plan, self.state.left_out))

    # --- the diff ---------------------------------------------------------------------

    def _wraps(self, change: Change) -> bool:
        return wraps_by_default(change) if self.wrap_choice is None else self.wrap_choice

    def _show_change(self, change: Change) -> None:
        self.shown = change
        wrap = self._wraps(change)
        maximised = self.maximized is not None
        self.query_one("#diff-title", Static).update(diff_title(change, wrap, maximised))
        diff = self.query_one("#diff", DiffView)
        diff.set_class(wrap, "-wrap")
        diff.show_diff(change.diff or change.description)
        box = self.query_one("#diff-box", DiffBox)
        box.scroll_to(0, 0, animate=False)

    @on(Tree.NodeHighlighted, "#plan-tree")
    def node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if not data:
            return
        if data[0] == "change":
            self._show_change(data[1])
            return
        host = data[1]
        self.shown = None
        changes = self.state.plan.for_host(host) if self.state.plan else []
        state = "left out of" if host in self.state.left_out else "part of"
        self.query_one("#diff-title", Static).update(Content.styled(host, "bold"))
        self.query_one("#diff", Static).add_class("-wrap")
        takeover = "".join(f"\n  {line}" for line in self._takeover_lines(host))
        if takeover:
            takeover = f"\n\nIts existing Borg setup is taken over:{takeover}"
        self.query_one("#diff", Static).update(
            Content(
                f"{len(changes)} change(s); this host is {state} this apply.\n"
                "Move down to a change to see its diff; x leaves the host out or takes it in."
                + takeover
            )
        )

    def action_toggle_wrap(self) -> None:
        if self.shown is None:
            return
        self.wrap_choice = not self._wraps(self.shown)
        self._show_change(self.shown)
        self.notify(f"Long lines {'wrap' if self.wrap_choice else 'scroll sideways'}.", timeout=2)

    def action_maximise(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        box = self.query_one("#diff-box", DiffBox)
        self.maximize(box, container=False)
        box.focus()
        if self.shown is not None:
            self._show_change(self.shown)

    def minimize(self) -> None:
        """Back from the maximised diff (`m` or escape): the tree has the focus again."""
        super().minimize()
        self.query_one("#plan-tree", Tree).focus()
        if self.shown is not None:
            self._show_change(self.shown)

    # --- leaving hosts out ------------------------------------------------------------

    def action_toggle_host(self) -> None:
        tree = self.query_one("#plan-tree", Tree)
        node = tree.cursor_node
        if node is None or not node.data or self.state.plan is None:
            return
        host_node = node if node.data[0] == "host" else node.parent
        host = host_node.data[1]
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
            ConfirmModal("Apply the plan?", self.confirmation_text(), yes="Apply"), answered
        )

    def confirmation_text(self) -> str:
        plan = self.state.plan_to_apply()
        hosts = [host for host in plan.hosts if plan.for_host(host)]
        lines = (
            [f"Apply {len(plan.changes)} change(s) on {len(hosts)} host(s): {', '.join(hosts)}."]
            if plan.changes
            else ["Nothing to change on the hosts in this apply."]
        )
        left_out = sorted(self.state.left_out)
        if left_out:
            lines.append(
                f"Left out of this apply (nothing is written there): {', '.join(left_out)}."
            )
        session = self.state.session
        if session is not None and session.errors:
            lines.append(f"Unreachable, NOT configured: {', '.join(sorted(session.errors))}.")
        lines.append(
            f"\nThe inventory is saved to {self.state.inventory_path} after a successful "
            "apply (hosts not configured stay in it, for the next run)."
        )
        return "\n".join(lines)
