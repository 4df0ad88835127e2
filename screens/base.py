"""The frame every wizard step shares: header, body, Back/Next buttons, footer, key bindings,
and fields that validate as you type with the engine's own rules."""

from __future__ import annotations

import re
import shlex

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Static

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
    """A list typed as words separated by spaces or commas (quote a word that holds either),
    each checked by the engine."""

    def __init__(self, check, field: str, allow_empty: bool = False) -> None:
        super().__init__()
        self.check, self.field, self.allow_empty = check, field, allow_empty

    def validate(self, value: str) -> ValidationResult:
        try:
            words = split_words(value)
        except ValueError as exc:
            return self.failure(str(exc))
        if not words and not self.allow_empty:
            return self.failure("enter at least one")
        for i, word in enumerate(words):
            try:
                self.check(f"{self.field}[{i}]", word)
            except FieldError as exc:
                return self.failure(exc.message)
        return self.success()


def split_words(value: str) -> list[str]:
    """`/etc, '/srv/my data' "/srv/it's"` → ['/etc', '/srv/my data', "/srv/it's"]: spaces and
    commas separate, quotes (shell style) keep a word that holds them together."""
    lexer = shlex.shlex(value, posix=True, punctuation_chars=",")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return [word for word in lexer if word != ","]
    except ValueError:
        raise ValueError("a quote is not closed") from None


def quote_word(word: str) -> str:
    """A word as `split_words` reads it back: bare when it can be, else in quotes."""
    if word and not re.search(r"[\s,'\"\\]", word):
        return word
    if "'" not in word:
        return f"'{word}'"
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def join_words(words: list[str] | tuple[str, ...]) -> str:
    """The inverse of `split_words`, quoting only the words that need it."""
    return " ".join(quote_word(word) for word in words)


def plain_text(markdown: str) -> str:
    """Markdown help as plain words (for the command palette): no `**`, `*` or backticks."""
    text = re.sub(
        r"\*\*(.+?)\*\*|\*(.+?)\*|`(.+?)`", lambda m: next(g for g in m.groups() if g), markdown
    )
    return " ".join(text.split())


def shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: width - 1].rsplit(" ", 1)[0] + "…"


class FieldInput(Input):
    """An Input that knows its human name (`client2's backup schedule`) for error messages,
    and whether `?` is text in it (paths and patterns) or the help key (everywhere else)."""

    def __init__(
        self, value: str = "", *, label: str, takes_question_mark: bool = False, **kwargs
    ) -> None:
        kwargs.setdefault("compact", True)
        super().__init__(value, **kwargs)
        self.label = label
        self.takes_question_mark = takes_question_mark

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Leave `?` to the help binding unless it is text here (Textual drops the bindings
        of the keys a focused Input consumes)."""
        if character == "?" and not self.takes_question_mark:
            return False
        return super().check_consume_key(key, character)

    def problem(self) -> str | None:
        """The engine's message for the current value, or None when it is valid."""
        result = self.validate(self.value)
        if result is None or result.is_valid:
            return None
        return " ".join(result.failure_descriptions)


def field_row(caption: str, field: FieldInput, *extra: Widget, classes: str = "") -> Vertical:
    """A labelled field with its error line right below it (hidden while the value is valid)."""
    error = Static("", id=f"{field.id}-error", classes="field-error", markup=False)
    error.display = False
    return Vertical(
        Horizontal(Label(caption, classes="field-label"), field, *extra, classes="field-row"),
        error,
        classes=f"field {classes}".strip(),
    )


class Body(VerticalScroll, can_focus=False):
    """A step's scrolling body: scrolls with the mouse and follows focus, but is no tab stop."""


class ReadingBody(VerticalScroll):
    """A body of text only (welcome, done): it takes the focus, so the arrow keys and
    PageUp/PageDown scroll it when it is taller than the screen."""


class TickBox(Checkbox):
    """A checkbox whose box is empty when unticked and shows X when ticked: the two states
    differ by more than colour (Textual's shows X in both)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


class StepFooter(Footer):
    """The footer, without its command-palette hint when the keys would not fit beside it
    (ctrl+p still opens the palette, and every step's help says so): the last key, ctrl+q
    Quit, is never cut off."""

    PALETTE_WIDTH = 11  # "▏^p palette", compact

    def keys_width(self) -> int:
        """The cells the footer's keys take, compact: `key description` and a space each."""
        shown = {}
        for _node, binding, _enabled, _tip in self.screen.active_bindings.values():
            if binding.show:
                shown.setdefault(binding.action, binding)
        return sum(
            cell_len(self.app.get_key_display(b)) + cell_len(b.description) + 2
            for b in shown.values()
        )

    def palette_fits(self) -> bool:
        return self.keys_width() + self.PALETTE_WIDTH <= self.app.size.width

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self.set_reactive(Footer.show_command_palette, self.palette_fits())
        yield from super().compose()

    def on_resize(self) -> None:
        if self._bindings_ready and self.palette_fits() != self.show_command_palette:
            self.call_after_refresh(self.recompose)


def invalid_fields(node: Widget) -> list[str]:
    """Every invalid field under `node`, by its human name, with its problem."""
    return [f"{field.label}: {p}" for field in node.query(FieldInput) if (p := field.problem())]


class StepScreen(Screen):
    """One wizard step. Subclasses compose `compose_body`, say when they are complete with
    `can_go_next`, and return their result from `collect` (None keeps the screen open)."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("f1", "help", "Help", key_display="F1", priority=True),
        Binding("question_mark", "help_key", "Help", key_display="?", show=False, priority=True),
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
            yield Static("", id="nav-status", markup=False)
            if self.SHOW_BACK:
                yield Button("Back", id="back", compact=True)
            yield Button(self.NEXT_LABEL, id="next", variant="primary", compact=True)
        yield StepFooter(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.app.sub_title = self.STEP_TITLE
        for field in self.query(FieldInput):
            if field.value:
                self.show_field_problem(field)
        self.refresh_nav()

    def can_go_next(self) -> bool:
        return True

    def collect(self):
        return True

    # --- fields -----------------------------------------------------------------------

    def show_field_problem(self, field: FieldInput) -> str | None:
        """Show (or clear) the field's error line, naming the field; return the problem."""
        problem = field.problem()
        for error in self.query(f"#{field.id}-error").results(Static):
            error.update(f"✗ {field.label}: {problem}" if problem else "")
            error.display = bool(problem)
        return problem

    def field_problems(self) -> list[str]:
        """Every invalid field of this step, by its human name."""
        return invalid_fields(self)

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FieldInput):
            self.show_field_problem(event.input)

    def refresh_nav(self) -> None:
        """Grey out Next (button and binding) until the step is complete, and say why."""
        ready = self.can_go_next()
        for button in self.query("#next").results(Button):
            button.disabled = not ready
        problems = self.field_problems()
        for status in self.query("#nav-status").results(Static):
            status.update(f"fix: {problems[0]}" if problems and not ready else "")
        self.refresh_bindings()

    # --- actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next" and not self.can_go_next():
            return None
        if action == "help_key":
            # `?` is text in a path or pattern field (globs), and the help key elsewhere.
            focused = self.focused
            return not (isinstance(focused, FieldInput) and focused.takes_question_mark)
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

        self.app.push_screen(HelpModal(self.STEP_TITLE, self.HELP, self.key_help()))

    def action_help_key(self) -> None:
        self.action_help()

    def key_help(self) -> list[tuple[str, str]]:
        """(key, what it does) for this step's own bindings, for the help dialog."""
        keys = []
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                if binding.action in ("back", "next", "help", "help_key"):
                    continue
                keys.append((binding.key_display or binding.key, binding.description))
            elif isinstance(binding, tuple):
                keys.append((binding[0], binding[2]))
        return keys

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            event.stop()
            self.action_back()
        elif event.button.id == "next":
            event.stop()
            self.action_next()
