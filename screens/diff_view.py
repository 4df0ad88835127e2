"""A change's diff, highlighted from the app theme; when its long lines wrap, each piece after
the first starts with the line's own mark (`+`, `-` or a space) and `↪`, so a wrapped key
line still reads as added or removed, and as one line."""

from __future__ import annotations

from pygments.token import Token
from rich.cells import cell_len, chop_cells
from textual import events
from textual.content import Content
from textual.highlight import HighlightTheme, highlight
from textual.widgets import Static

CONTINUED = "↪"
"""Starts each piece of a wrapped diff line after the first, behind the line's own mark."""


class DiffTheme(HighlightTheme):
    """Inserted and deleted lines coloured from the app theme."""

    STYLES = {
        **HighlightTheme.STYLES,
        Token.Generic.Inserted: "$text-success",
        Token.Generic.Deleted: "$text-error",
        Token.Generic.Subheading: "$text-accent",
        Token.Generic.Heading: "$text-primary bold",
    }


def mark_continuations(text: str, width: int) -> str:
    """`text` with every diff line (one that starts with `+`, `-` or a space) wider than
    `width` cells cut into pieces of at most `width`; a piece after the first starts with
    the line's mark and `↪`. Other lines (a change's description) are left to wrap at
    their spaces."""
    out = []
    for line in text.splitlines():
        if cell_len(line) <= width or line[:1] not in ("+", "-", " "):
            out.append(line)
            continue
        prefix = f"{line[0]}{CONTINUED}"
        first, *_ = chop_cells(line, width)
        out.append(first)
        rest = line[len(first) :]
        room = max(1, width - cell_len(prefix))
        out += [prefix + piece for piece in chop_cells(rest, room)]
    return "\n".join(out)


def render_diff_text(text: str, width: int | None = None) -> Content:
    """The diff highlighted; with `width`, its long lines wrapped and marked at that width."""
    if width is not None:
        text = mark_continuations(text, width)
    return highlight(text, language="diff", theme=DiffTheme)


class DiffView(Static):
    """Shows a diff (`show_diff`) or any other content (`update`). With the `-wrap` class it
    wraps the diff itself, at its own width, again whenever that width changes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.diff_text: str | None = None
        self._wrapped_at: int | None = None

    def show_diff(self, text: str) -> None:
        self.diff_text = text
        self._render_diff()

    def update(self, content="", *, layout: bool = True) -> None:
        self.diff_text = None
        super().update(content, layout=layout)

    def _wrap_width(self) -> int | None:
        width = self.content_region.width
        return width if self.has_class("-wrap") and width > 4 else None

    def _render_diff(self) -> None:
        if self.diff_text is None:
            return
        self._wrapped_at = self._wrap_width()
        super().update(render_diff_text(self.diff_text, self._wrapped_at))

    def on_resize(self, event: events.Resize) -> None:
        if self.diff_text is not None and self._wrap_width() != self._wrapped_at:
            self._render_diff()
