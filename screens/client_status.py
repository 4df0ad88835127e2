"""One client's health and what to do about it (from the welcome screen's status table)."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

CLOSE = "close"


def shell_words(command: str) -> list[str]:
    """`command` cut at the spaces outside quotes, each word as written (quotes kept)."""
    words, word, quote = [], "", None
    for char in command:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == " ":
            if word:
                words.append(word)
            word = ""
            continue
        word += char
    return [*words, word] if word else words


def shell_wrap(command: str, width: int) -> str:
    """`command` in lines of at most `width` cells where it can be (a word is never cut),
    each continued with ` \\` and the next indented: pasted into a shell, it is the same
    command."""
    lines, line = [], ""
    for word in shell_words(command):
        if line and cell_len(f"{line} {word} \\") > width:
            lines.append(f"{line} \\")
            line = f"  {word}"
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


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
                    text = line.strip() or " "
                    view = Static(text, classes="command" if command else "prose", markup=False)
                    view.command_text = text if command else None
                    yield view
            with Horizontal(id="dialog-buttons"):
                for action, label in self.actions:
                    yield Button(label, id=action, variant="warning", compact=True)
                yield Button("Close", id=CLOSE, variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#client-status-body").focus()
        self.call_after_refresh(self.wrap_commands)

    def on_resize(self) -> None:
        self.call_after_refresh(self.wrap_commands)

    def wrap_commands(self) -> None:
        """Commands longer than the dialog wrap as a shell would read them (` \\`), so the
        whole command shows and still pastes as one."""
        body = self.query_one("#client-status-body")
        width = max(20, body.scrollable_content_region.width - 2)  # the commands' indent
        for view in self.query(".command"):
            view.update(shell_wrap(view.command_text, width))

    def action_choose(self, action: str) -> None:
        self.dismiss(action)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or CLOSE)
