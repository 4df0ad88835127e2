"""The review's part of a takeover: the passphrase of a repository to take over that its
old config does not hold (asked without echo, stored as `borgkeep passphrase CLIENT` stores
it), and the order that puts each takeover's diffs first."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from wizard.session import Change, Plan, takeover_choice


class PassphraseModal(ModalScreen[str | None]):
    """Why the plan needs the passphrase, and a password field: dismissed with what was
    typed (never shown, never logged), or None (escape, Cancel, nothing typed)."""

    CSS_PATH = ["modals.tcss", "review.tcss"]
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, host: str, message: str, where: str, retry: bool = False) -> None:
        super().__init__()
        self.host, self.message, self.where, self.retry = host, message, where, retry

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="passphrase"):
            yield Static(
                f"The passphrase of {self.host}'s repository", id="dialog-title", markup=False
            )
            yield Static(self.message, id="dialog-body", markup=False)
            if self.retry:
                yield Static(
                    "✗ The passphrase typed here before does not open it.",
                    id="passphrase-wrong",
                    markup=False,
                )
            yield Static(
                f"Type it here: it is stored where `borgkeep passphrase {self.host}` stores "
                f"it ({self.where}), and the plan checks it against the repository's key.",
                id="passphrase-hint",
                markup=False,
            )
            yield Input(
                password=True,
                id="passphrase",
                placeholder="passphrase (not shown)",
                compact=True,
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Store and plan again", id="store", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _given(self) -> None:
        value = self.query_one("#passphrase", Input).value
        if not value.strip():
            self.notify("Type the passphrase first (or escape).", severity="warning")
            return
        self.dismiss(value)

    @on(Input.Submitted, "#passphrase")
    def _submitted(self) -> None:
        self._given()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "store":
            self._given()
        else:
            self.dismiss(None)


def takeover_firsts(plan: Plan) -> tuple[list[str], set[int]]:
    """The clients the plan takes over (now, not earlier), and their changes (by id)."""
    parts = {client: takeover_choice.takeover_changes(plan, client) for client in plan.takeovers}
    taken = [client for client, changes in parts.items() if changes]
    return taken, {id(change) for changes in parts.values() for change in changes}


def review_order(plan: Plan, server: str) -> list[tuple[str, list[Change]]]:
    """The plan's hosts with their changes for the tree: the clients being taken over
    first, then the server, then the rest; in each host, the takeover's changes first."""
    taken, first = takeover_firsts(plan)
    hosts = sorted(plan.hosts, key=lambda host: (host not in taken, host != server))
    return [
        (host, sorted(plan.for_host(host), key=lambda change: id(change) not in first))
        for host in hosts
    ]
