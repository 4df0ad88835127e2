"""Showing what a host sent without letting it drive the operator's terminal."""

from __future__ import annotations

_KEEP = {"\n", "\t"}
_KEPT = str.maketrans("", "", "\n\t")
_TAB = str.maketrans("", "", "\t")


def safe_text(text: str, keep_newlines: bool = True) -> str:
    """Text that came from a host (file bodies, names, error output), made harmless for a
    terminal: every control character but newline and tab, and every other non-printable
    character, is shown as an escape (`\\x1b`, `\\u202e`), so remote bytes can neither
    move the cursor, recolour, hide the rest of a plan, nor reorder text."""
    if text.translate(_KEPT if keep_newlines else _TAB).isprintable():
        return text  # the common case, in C: nothing to escape
    out = []
    for char in text:
        if char in _KEEP and (keep_newlines or char == "\t") or char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def one_line(message: str) -> str:
    """A message for a JSON value: its lines joined (after a colon with a space, else with
    "; "), so that a script reading `"error"` gets one line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = lines[0] if lines else ""
    for line in lines[1:]:
        text += (" " if text.endswith(":") else "; ") + line
    return text
