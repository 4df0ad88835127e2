"""The frame every wizard step shares: header, body, Back/Next buttons, footer, key bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Footer, Header, Static

from screens.state import BACK, WizardState
from wizard.inventory.validation import FieldError


class FieldValidator(Validator):
    """Wrap an engine check (`check_*(field, value)`) so an Input validates as you type with
    exactly the engine's rule and message."""

    def __init__(self, check, field: str, optional: bool = False) -> None:
        super().__init__()
        self.check = check
        self.field = field
        self.optional = optional

    def validate(self, value: str) -> ValidationResult:
        if self.optional and not value.strip():
            return self.success()
        try:
            self.check(self.field, value.strip())
        except FieldError as exc:
            return self.failure(exc.message)
        return self.success()


class WordsValidator(Validator):
    """A list typed as words separated by spaces or commas, each checked by the engine."""

    def __init__(self, check, field: str, allow_empty: bool = False) -> None:
        super().__init__()
        self.check, self.field, self.allow_empty = check, field, allow_empty

    def validate(self, value: str) -> ValidationResult:
        words = split_words(value)
        if not words and not self.allow_empty:
            return self.failure("enter at least one")
        for i, word in enumerate(words):
            try:
                self.check(f"{self.field}[{i}]", word)
            except FieldError as exc:
                return self.failure(exc.message)
        return self.success()


class Body(VerticalScroll, can_focus=False):
    """A step's scrolling body: scrolls with the mouse and follows focus, but is no tab stop."""


def split_words(value: str) -> list[str]:
    return [w for w in value.replace(",", " ").split() if w]


class StepScreen(Screen):
    """One wizard step. Subclasses compose `compose_body`, say when they are complete with
    `can_go_next`, and return their result from `collect` (None keeps the screen open)."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
    ]
    STEP_TITLE = ""
    HELP = ""
    NEXT_LABEL = "Next"
    SHOW_BACK = True

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_body()
        with Horizontal(id="nav"):
            yield Static("", id="nav-status")
            if self.SHOW_BACK:
                yield Button("Back", id="back", compact=True)
            yield Button(self.NEXT_LABEL, id="next", variant="primary", compact=True)
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.app.sub_title = self.STEP_TITLE
        self.refresh_nav()

    def can_go_next(self) -> bool:
        return True

    def collect(self):
        return True

    def refresh_nav(self) -> None:
        """Grey out Next (button and binding) until the step is complete."""
        for button in self.query("#next").results(Button):
            button.disabled = not self.can_go_next()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next" and not self.can_go_next():
            return None
        return not (action == "back" and not self.SHOW_BACK)

    def action_back(self) -> None:
        if self.SHOW_BACK:
            self.dismiss(BACK)

    def action_next(self) -> None:
        if not self.can_go_next():
            return
        result = self.collect()
        if result is not None:
            self.dismiss(result)

    def action_help(self) -> None:
        from screens.modals import HelpModal

        self.app.push_screen(HelpModal(self.STEP_TITLE, self.HELP))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            event.stop()
            self.action_back()
        elif event.button.id == "next":
            event.stop()
            self.action_next()
