"""The options of one lifecycle request on one client, above its plan: the purge (with the
client's name typed to confirm it) for a retirement, the mode of a recovery, the path,
archive and destination of a restore. `request()` reads them as the engine's
`LifecycleRequest`, or says what is still missing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Label, RadioButton, RadioSet

from screens.base import FieldInput, FieldValidator, TickBox, field_row, invalid_fields
from wizard.inventory.validation import check_absolute_path, check_source_directory
from wizard.session import LifecycleRequest

RECOVER_CHOICES = (
    (None, "Show what vanished"),
    ("acknowledge", "Acknowledge: the deletion was deliberate"),
    ("rollback", "Roll back: bring the vanished archives back"),
)


class LifecycleOptions(Vertical):
    """The fields of `action` for `client` (none for a new key: a line says so)."""

    def __init__(self, action: str, client: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.action, self.client = action, client

    def compose(self) -> ComposeResult:
        if self.action == "remove":
            yield from self._compose_remove()
        elif self.action == "recover":
            with RadioSet(id="mode", compact=True):
                for index, (_, label) in enumerate(RECOVER_CHOICES):
                    yield RadioButton(label, value=index == 0)
        elif self.action == "restore":
            yield from self._compose_restore()
        else:
            yield Label("A new key pair is generated on the client; nothing else changes.")

    def _compose_remove(self) -> ComposeResult:
        yield TickBox(
            "Also delete its repository and every archive (cannot be undone)",
            id="purge",
            compact=True,
        )
        yield field_row(
            "Type its name",
            FieldInput(
                id="purge-confirm",
                label="the client's name, to confirm the purge",
                placeholder=self.client,
            ),
            classes="purge-row",
        )

    def _compose_restore(self) -> ComposeResult:
        yield field_row(
            "Path",
            FieldInput(
                id="restore-path",
                label="path to restore",
                placeholder="/etc/hosts (as it was on the client)",
                takes_question_mark=True,
                validators=[FieldValidator(check_source_directory, "PATH")],
            ),
        )
        yield field_row(
            "Archive",
            FieldInput(id="restore-archive", label="archive", placeholder="the newest"),
        )
        yield field_row(
            "Into",
            FieldInput(
                id="restore-to",
                label="destination",
                placeholder="a new /var/tmp/borgkeep-restore-… directory",
                validators=[FieldValidator(check_absolute_path, "--to", optional=True)],
            ),
        )
        yield TickBox(
            "Into an existing directory, replacing files there", id="overwrite", compact=True
        )

    def on_mount(self) -> None:
        for row in self.query(".purge-row"):
            row.display = False

    @on(Checkbox.Changed, "#purge")
    def _purge_toggled(self, event: Checkbox.Changed) -> None:
        """The name to type shows only with the purge ticked (the screen hears it too)."""
        for row in self.query(".purge-row"):
            row.display = event.value

    def _typed(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", FieldInput).value.strip()

    def request(self) -> LifecycleRequest | str:
        """The request the options describe, or why there is none yet."""
        if self.action == "remove":
            purge = self.query_one("#purge", Checkbox).value
            if purge and self._typed("purge-confirm") != self.client:
                return f"to delete the repository too, type {self.client} to confirm"
            return LifecycleRequest("remove", self.client, purge=purge)
        if self.action == "recover":
            index = self.query_one("#mode", RadioSet).pressed_index
            mode = RECOVER_CHOICES[max(index, 0)][0]
            return LifecycleRequest("recover", self.client, mode=mode)
        if self.action == "restore":
            return self._restore_request()
        return LifecycleRequest(self.action, self.client)

    def _restore_request(self) -> LifecycleRequest | str:
        path = self._typed("restore-path")
        if not path:
            return "enter the path to restore"
        problems = invalid_fields(self)
        if problems:
            return problems[0]
        return LifecycleRequest(
            "restore",
            self.client,
            path=path,
            archive=self._typed("restore-archive") or None,
            destination=self._typed("restore-to") or None,
            overwrite=self.query_one("#overwrite", Checkbox).value,
        )
