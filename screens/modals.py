"""Decisions (`ModalScreen[bool]`) and the help dialog."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmModal(ModalScreen[bool]):
    """A yes/no decision; escape means no, and so does enter at first: the focus starts on
    No (an apply changes hosts), which the dialog says."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("escape", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no = title, body, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.body, id="dialog-body", markup=False)
            yield Static(
                f"{self.no} is selected: enter, n or escape answers {self.no}; "
                f"y (or tab, then enter) answers {self.yes}.",
                id="dialog-keys",
                markup=False,
            )
            with Horizontal(id="dialog-buttons"):
                yield Button(self.yes, id="yes", variant="primary", compact=True)
                yield Button(self.no, id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class HostKeyModal(ConfirmModal):
    """First contact with a host: the operator compares the fingerprint and decides."""

    def __init__(self, hostname: str, port: int, key_type: str, fingerprint: str) -> None:
        address = hostname if port == 22 else f"[{hostname}]:{port}"
        body = (
            f"The host {address} is not in your known_hosts.\n\n"
            f"  {key_type}  {fingerprint}\n\n"
            "Compare this fingerprint with the one the host itself shows\n"
            "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host).\n"
            "Accept it and remember it?"
        )
        super().__init__("Unknown host key", body, yes="Accept key", no="Reject")
        self.fingerprint = fingerprint

    def on_mount(self) -> None:
        self.add_class("host-key")
        super().on_mount()


class ErrorModal(ModalScreen[None]):
    """A hard stop that the operator must read, e.g. a changed host key."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "close", "Close"), Binding("enter", "close", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.message, id="dialog-body", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close", id="close", variant="error", compact=True)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)


class HelpModal(ModalScreen[None]):
    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
        Binding("f1", "close", "Close", show=False),
    ]

    def __init__(self, title: str, text: str, keys: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.title_text, self.text, self.keys = title, text, keys or []

    def compose(self) -> ComposeResult:
        own = "".join(f"`{key}` {what.lower()} · " for key, what in self.keys)
        keys = (
            f"\n\n**Keys:** {own}`ctrl+n` next · `escape` back · `tab` next field · "
            "`F1` help (or `?`, except in a path or pattern field, where `?` is text) · "
            "`ctrl+p` command palette · `ctrl+q` quit. The mouse works everywhere."
        )
        with Vertical(id="dialog", classes="help"):
            yield Static(f"Help: {self.title_text}", id="dialog-title", markup=False)
            with VerticalScroll():
                from textual.widgets import Markdown  # markdown-it loads with the first help

                yield Markdown(self.text + keys)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close", id="close", compact=True)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)


class PathModal(ModalScreen[Path | None]):
    """Ask for a file path (e.g. where to save the plan); escape cancels."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body: str, default: str) -> None:
        super().__init__()
        self.title_text, self.body, self.default = title, body, default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.body, id="dialog-body", markup=False)
            yield Input(self.default, id="path", compact=True)
            with Horizontal(id="dialog-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def _answer(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self.notify("Enter a file name.", severity="error")
            return
        self.dismiss(Path(text).expanduser())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._answer()
        else:
            self.dismiss(None)


class TakeoverModal(ModalScreen[str | None]):
    """A client already backs up to the server with Borg: take its repository over, start
    a new one beside it, or leave the client out of this apply. Escape decides nothing."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, host: str, message: str, offers_beside: bool = True) -> None:
        super().__init__()
        self.host, self.message, self.offers_beside = host, message, offers_beside

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"{self.host} already backs up with Borg", id="dialog-title", markup=False)
            yield Static(self.message, id="dialog-body", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Take it over", id="take", variant="primary", compact=True)
                if self.offers_beside:
                    yield Button("New repository beside it", id="beside", compact=True)
                yield Button(f"Leave {self.host} out", id="leave", compact=True)

    def on_mount(self) -> None:
        self.query_one("#take", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)


def ask_host_key_from_thread(
    app: App, hostname: str, port: int, key_type: str, fingerprint: str
) -> bool:
    """The engine's `on_unknown_host_key`, called from a worker thread: show the modal on the
    UI thread and block this thread until the operator answers (or the app exits)."""
    answered = threading.Event()
    answer: list[bool] = [False]

    def on_result(value: bool | None) -> None:
        answer[0] = bool(value)
        answered.set()

    app.call_from_thread(
        app.push_screen, HostKeyModal(hostname, port, key_type, fingerprint), on_result
    )
    while not answered.wait(0.2):
        if not app.is_running:
            return False
    return answer[0]


def asking_session(app: App, inventory, accept_new_host_keys: bool):
    """A `FleetSession` on `inventory` whose unknown host keys are asked about in the modal
    above (its blocking work belongs in a thread worker)."""
    from wizard.session import FleetSession  # the engine loads with the first connection

    return FleetSession(
        inventory,
        on_unknown_host_key=lambda *a: ask_host_key_from_thread(app, *a),
        accept_new_host_keys=accept_new_host_keys,
    )
