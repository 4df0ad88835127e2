"""Step 5: review — hosts → changes, the selected change's diff, counts, warnings, and which
hosts take part in this apply."""

from __future__ import annotations

from pygments.token import Token
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import HighlightTheme, highlight
from textual.widgets import LoadingIndicator, Static, Tree
from textual.worker import Worker, WorkerState

from screens.base import StepScreen
from screens.modals import ConfirmModal, ask_host_key_from_thread
from wizard.reports import NOTHING_TO_CHANGE, phase_name, plan_summary
from wizard.session import Change, FleetSession, Plan, plan_warnings


class DiffTheme(HighlightTheme):
    """Inserted and deleted lines coloured from the app theme."""

    STYLES = {
        **HighlightTheme.STYLES,
        Token.Generic.Inserted: "$text-success",
        Token.Generic.Deleted: "$text-error",
        Token.Generic.Subheading: "$text-accent",
        Token.Generic.Heading: "$text-primary bold",
    }


def render_diff(change: Change) -> Content:
    header = Content.from_markup(
        f"[b]{change.host}[/b]  {change.title}\n"
        f"[dim]{phase_name(change)} · {change.description}[/dim]\n\n"
    )
    body = change.diff or change.description
    return header + highlight(body, language="diff", theme=DiffTheme)


def change_label(change: Change) -> str:
    """Short enough for the tree at 80 columns: the file name, with its folder when short."""
    if change.kind == "command":
        return change.title
    target = change.path or ""
    if len(target) > 24:
        target = "…/" + "/".join(target.rsplit("/", 2)[-2:])
    return f"{change.action} {target}"


def gather_and_plan(session: FleetSession) -> Plan:
    session.gather()
    return session.plan()


class ReviewScreen(StepScreen):
    CSS_PATH = "review.tcss"
    STEP_TITLE = "5/7 Review"
    NEXT_LABEL = "Apply…"
    HELP = (
        "Every change borgkeep would make, per host. Select a change to see its unified "
        "diff; secrets are shown as `<secret: …>` and keys generated during apply as "
        "placeholders.\n\n`x` (or `space` on a host) leaves that host out of **this** apply "
        "and takes it in again; the server cannot be left out while clients stay in. "
        "`ctrl+r` gathers the facts and plans again."
    )
    BINDINGS = [
        ("x", "toggle_host", "Leave out / take in"),
        ("ctrl+r", "replan", "Plan again"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static("", id="plan-summary", markup=False)
            with Horizontal(id="review-main"):
                yield Tree("plan", id="plan-tree")
                with VerticalScroll(id="diff-box"):
                    yield Static("", id="diff")
            yield LoadingIndicator(id="planning")
            yield Static("", id="plan-warnings", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        if self.state.plan is None:
            self.action_replan()
        else:
            self._show_plan()

    # --- planning ---------------------------------------------------------------------

    def action_replan(self) -> None:
        state = self.state
        try:
            inventory = state.to_inventory()
        except Exception as exc:
            self._show_error(f"The inventory is not valid:\n{exc}")
            return
        if state.session is not None:
            state.session.close()
        app = self.app
        state.session = FleetSession(
            inventory,
            on_unknown_host_key=lambda *a: ask_host_key_from_thread(app, *a),
            accept_new_host_keys=state.accept_new_host_keys,
        )
        state.plan = None
        state.left_out = set()
        self.query_one("#planning").display = True
        self.query_one("#plan-summary", Static).update(
            f"Connecting to {1 + len(inventory.clients)} host(s) and planning …"
        )
        self.refresh_nav()
        self.plan_worker(state.session)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def plan_worker(self, session: FleetSession) -> Plan:
        return gather_and_plan(session)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "plan":
            return
        if event.state == WorkerState.SUCCESS:
            self.state.plan = event.worker.result
            self._show_plan()
        elif event.state == WorkerState.ERROR:
            self._show_error(f"Planning failed: {event.worker.error}")
        self.refresh_nav()

    def _show_error(self, message: str) -> None:
        self.query_one("#planning").display = False
        summary = self.query_one("#plan-summary", Static)
        summary.update(message)
        summary.set_classes("bad")

    def _show_plan(self) -> None:
        plan = self.state.plan
        assert plan is not None
        self.query_one("#planning").display = False
        self.query_one("#plan-summary", Static).set_classes("")
        tree = self.query_one("#plan-tree", Tree)
        tree.clear()
        tree.root.expand()
        tree.show_root = False
        first = None
        for host in plan.hosts:
            host_node = tree.root.add(self._host_label(host), data=("host", host), expand=True)
            for change in plan.for_host(host):
                leaf = host_node.add_leaf(change_label(change), data=("change", change))
                first = first or leaf
        self._update_summary()
        warnings = plan_warnings(plan)
        session = self.state.session
        if session is not None:
            warnings += [f"{host} unreachable: {why}" for host, why in session.errors.items()]
            if session.store.warning:
                warnings.append(session.store.warning)
        self.query_one("#plan-warnings", Static).update(
            "\n".join(f"⚠ {w}" for w in warnings) if warnings else "No warnings."
        )
        self.query_one("#plan-warnings").set_class(bool(warnings), "warn")
        diff = self.query_one("#diff", Static)
        if plan.empty:
            diff.update(NOTHING_TO_CHANGE)
        elif first is not None:
            diff.update(render_diff(first.data[1]))
        tree.focus()

    def _host_label(self, host: str) -> str:
        plan = self.state.plan
        n = len(plan.for_host(host)) if plan else 0
        role = " (server)" if host == self.state.server_name else ""
        out = "✗ left out: " if host in self.state.left_out else ""
        return f"{out}{host}{role} — {n} change(s)"

    def _update_summary(self) -> None:
        plan = self.state.plan
        if plan is not None:
            self.query_one("#plan-summary", Static).update(plan_summary(plan, self.state.left_out))

    @on(Tree.NodeHighlighted, "#plan-tree")
    def node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if not data:
            return
        diff = self.query_one("#diff", Static)
        if data[0] == "change":
            diff.update(render_diff(data[1]))
        else:
            changes = self.state.plan.for_host(data[1]) if self.state.plan else []
            diff.update(
                Content(
                    f"{data[1]}: {len(changes)} change(s). Select one to see its diff; "
                    "x leaves this host out of this apply."
                )
            )

    @on(Tree.NodeSelected, "#plan-tree")
    def node_selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data and event.node.data[0] == "host":
            self.action_toggle_host()

    # --- leaving hosts out ------------------------------------------------------------

    def action_toggle_host(self) -> None:
        tree = self.query_one("#plan-tree", Tree)
        node = tree.cursor_node
        if node is None or not node.data:
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
        else:
            if host == server and clients_in:
                self.notify(
                    "The server cannot be left out while clients stay in.", severity="error"
                )
                return
            left_out.add(host)
        self.state.plan = self.state.session.plan(leave_out=left_out)
        self._show_plan()
        self.refresh_nav()

    # --- next -------------------------------------------------------------------------

    def can_go_next(self) -> bool:
        return self.state.plan is not None and self.state.session is not None

    def action_next(self) -> None:
        if not self.can_go_next():
            return
        plan = self.state.plan_to_apply()
        hosts = sorted({c.host for c in plan.changes})
        body = (
            f"Apply {len(plan.changes)} change(s) on {len(hosts)} host(s): {', '.join(hosts)}?\n\n"
            f"The inventory will be saved to {self.state.inventory_path}."
            if plan.changes
            else "Nothing to change. Save the inventory and go on to verification?"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(True)

        self.app.push_screen(ConfirmModal("Apply the plan?", body, yes="Apply"), answered)
