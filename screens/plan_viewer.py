"""The plan viewer of the review and the lifecycle screens: a plan's changes in a tree
grouped by host, and beside it the highlighted change's diff under a heading — wrapped or
scrolled sideways, maximisable — or a note about the highlighted host.

Only the highlighted change's diff is ever rendered (a tree row is one short label), so a
plan of a hundred hosts and hundreds of changes opens at once; the tree (`PlanTree`) measures
its rows without rendering them, so refocusing or resizing it costs no render per row. The screen hears of every
highlighted row (`PlanViewer.Highlighted`), keeps its own bindings and calls `toggle_wrap`
and `toggle_maximise` from them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from screens.diff_view import DiffView
from wizard.reports import change_label
from wizard.session import Change

DiffTitle = Callable[[Change, bool, bool], Content]
"""The heading over a change's diff, given the change, whether it wraps, and whether the
diff is maximised."""

HostRow = tuple[str, "str | Text", list[Change]]
"""One host of the tree: its name, its row's label, its changes in the order shown."""


class PlanTree(Tree):
    """Textual's tree, measuring a row's width from its label's text: the tree measures
    every row each time its lines are rebuilt (focus, resize, maximise), and the default
    renders each label to measure it — about a millisecond per ten rows."""

    def get_label_width(self, node: TreeNode) -> int:
        """As `render_label(node, …).cell_len`: the toggle icon of a node that expands
        (`render_label`'s prefix) and the label."""
        icon = (
            (self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE)
            if node.allow_expand
            else ""
        )
        return cell_len(icon) + node.label.cell_len


class DiffBox(VerticalScroll):
    """The diff of the selected change; `m` maximises it (escape or `m` restores)."""

    ALLOW_MAXIMIZE = True


class PlanViewer(Horizontal):
    """The tree (`{prefix}plan-tree`) and the diff box (`{prefix}diff-box`, holding
    `{prefix}diff-title` and the `DiffView` `{prefix}diff`). A change's long lines wrap
    when `wraps_by_default(change)` says so, until `toggle_wrap` sets one choice for every
    diff."""

    class Highlighted(Message):
        """A row of the tree was highlighted: a change (`change`), or a host's own row
        (`change` None)."""

        def __init__(self, viewer: PlanViewer, host: str, change: Change | None) -> None:
            super().__init__()
            self.viewer, self.host, self.change = viewer, host, change

        @property
        def control(self) -> PlanViewer:
            return self.viewer

    def __init__(
        self,
        title: DiffTitle,
        wraps_by_default: Callable[[Change], bool],
        *,
        prefix: str = "",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.diff_title, self.wraps_by_default, self.prefix = title, wraps_by_default, prefix
        self.wrap_choice: bool | None = None
        """None: `wraps_by_default` decides; True/False: the operator's choice for every diff."""
        self.shown: Change | None = None
        """The change whose diff is on screen (None: a note, or nothing)."""

    def compose(self) -> ComposeResult:
        yield PlanTree("plan", id=f"{self.prefix}plan-tree")
        with DiffBox(id=f"{self.prefix}diff-box"):
            yield Static("", id=f"{self.prefix}diff-title")
            yield DiffView("", id=f"{self.prefix}diff")

    def on_mount(self) -> None:
        self.tree.show_root = False
        self.watch(self.screen, "maximized", self._maximised, init=False)

    @property
    def tree(self) -> PlanTree:
        return self.query_one(PlanTree)

    @property
    def box(self) -> DiffBox:
        return self.query_one(DiffBox)

    @property
    def diff(self) -> DiffView:
        return self.query_one(DiffView)

    @property
    def heading(self) -> Static:
        return self.query_one(f"#{self.prefix}diff-title", Static)

    # --- the tree -----------------------------------------------------------------------

    def show_plan(
        self, hosts: Iterable[HostRow], cursor: str | Change | None = None
    ) -> Change | None:
        """The tree rebuilt from `hosts`, every host expanded. The cursor goes to `cursor`
        (a host's name or one of the changes) once the tree is drawn; without it, the first
        change's diff is shown. Returns the first change (None: no changes)."""
        tree = self.tree
        tree.clear()
        tree.root.expand()
        first = target = None
        for host, label, changes in hosts:
            node = tree.root.add(label, data=("host", host), expand=True)
            target = node if cursor == host else target
            for change in changes:
                leaf = node.add_leaf(Text(change_label(change)), data=("change", change))
                first = first or change
                target = leaf if change is cursor else target
        if target is not None:
            self.call_after_refresh(self._cursor_to, target)
        elif first is not None:
            self.show_change(first)
        return first

    def _cursor_to(self, node: TreeNode) -> None:
        """Move the tree's cursor to `node` once the rebuilt tree has placed it in a line
        (`last_line` builds the lines; a node not placed yet has line -1)."""
        last = self.tree.last_line
        if 0 <= node.line <= last:
            self.tree.move_cursor(node)

    def clear(self) -> None:
        """No plan: nothing of an earlier one stays on screen to be read as this one's."""
        self.tree.clear()
        self.shown = None
        self.heading.update("")
        self.diff.update("")

    def host_of_cursor(self) -> str | None:
        """The host of the highlighted row (its own, or its change's)."""
        node = self.tree.cursor_node
        if node is None or not node.data:
            return None
        return node.data[1] if node.data[0] == "host" else node.data[1].host

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if not data:
            return
        if data[0] == "change":
            self.show_change(data[1])
            self.post_message(self.Highlighted(self, data[1].host, data[1]))
        else:
            self.post_message(self.Highlighted(self, data[1], None))

    # --- the diff -----------------------------------------------------------------------

    def wraps(self, change: Change) -> bool:
        return self.wraps_by_default(change) if self.wrap_choice is None else self.wrap_choice

    def show_change(self, change: Change) -> None:
        """The change's diff (its description if it has none) under its heading."""
        self.shown = change
        wrap = self.wraps(change)
        self.heading.update(self.diff_title(change, wrap, self.screen.maximized is not None))
        self.diff.set_class(wrap, "-wrap")
        self.diff.show_diff(change.diff or change.description)
        self.box.scroll_to(0, 0, animate=False)

    def show_note(self, title: Content | str, body: Content | str) -> None:
        """Words in place of a diff (about a host, an empty plan), wrapped."""
        self.shown = None
        self.heading.update(title)
        self.diff.add_class("-wrap")
        self.diff.update(body)

    def toggle_wrap(self) -> bool | None:
        """Wrap every diff, or none, the other way from the one shown; the new choice
        (None: no diff is shown, nothing changed)."""
        if self.shown is None:
            return None
        self.wrap_choice = not self.wraps(self.shown)
        self.show_change(self.shown)
        return self.wrap_choice

    def toggle_maximise(self) -> None:
        """Maximise the diff box (focused, to scroll it), or restore it."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        screen.maximize(self.box, container=False)
        self.box.focus()

    def _maximised(self, maximised: object) -> None:
        """Maximised or restored (`m`, or escape): the heading says which key restores;
        back from it, the tree has the focus again."""
        if maximised is None:
            self.tree.focus()
        if self.shown is not None:
            self.show_change(self.shown)
