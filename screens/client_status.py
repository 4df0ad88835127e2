"""One client's health and what to do about it (from the welcome screen's status table)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

CLOSE = "close"


class ClientStatusModal(ModalScreen[str]):
    """The client's problems and the exact commands to look into it and decide; dismissed
    with the id of the button chosen (`close`, or one of `actions`, e.g. a recover action)."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "choose('close')", "Close")]

    def __init__(self, title: str, lines: list[str], actions: list[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.title_text, self.lines, self.actions = title, lines, list(actions)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="client-status"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            with VerticalScroll(id="client-status-body"):
                for line in self.lines:
                    # Commands (indented) keep one line each, to copy whole; the body
                    # scrolls sideways when they are wider than the screen.
                    command = line.startswith("  ")
                    yield Static(
                        line.strip() or " ", classes="command" if command else "prose", markup=False
                    )
            with Horizontal(id="dialog-buttons"):
                for action, label in self.actions:
                    yield Button(label, id=action, variant="warning", compact=True)
                yield Button("Close", id=CLOSE, variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#client-status-body").focus()

    def action_choose(self, action: str) -> None:
        self.dismiss(action)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or CLOSE)
