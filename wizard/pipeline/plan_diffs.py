"""The texts a plan shows for a change: unified diffs, with secrets, secret values and
keys not generated yet shown as placeholders; a note for a mode or owner change."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from wizard.safe_text import safe_text

SECRET_UNCHANGED = "<secret: unchanged>"
SECRET_NEW = "<secret: new>"
SECRET_OLD = "<secret: replaced>"
SECRET_VALUE = "<secret>"
SECRET_REMOVED = "<secret: removed>"


def unified_diff(old: str | None, new: str | None, label: str) -> str:
    """A unified diff that also shows a missing final newline, like `diff -u`; what a host
    sent is shown with its control characters escaped (`wizard.safe_text`)."""
    old_lines = _diff_lines(old)
    new_lines = _diff_lines(new)
    lines = difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile="/dev/null" if old is None else f"a/{label}",
        tofile="/dev/null" if new is None else f"b/{label}",
    )
    return safe_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))


def _diff_lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = text.splitlines(keepends=True)
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def show_placeholders(text: str, placeholders: Mapping[str, str]) -> str:
    for blob, client in placeholders.items():
        text = text.replace(blob, f"<public key of {client}: generated on {client} during apply>")
    return text


def secret_diff(old: str | None, label: str, origin: str = "") -> str:
    new = f"<secret: {origin}>" if origin else SECRET_NEW
    if old is None:
        return f"--- /dev/null\n+++ b/{label}\n@@ -0,0 +1 @@\n+{new}\n"
    return f"--- a/{label}\n+++ b/{label}\n@@ -1 +1 @@\n-{SECRET_OLD}\n+{new}\n"


def secret_removed_diff(label: str) -> str:
    return f"--- a/{label}\n+++ /dev/null\n@@ -1 +0,0 @@\n-{SECRET_REMOVED}\n"


def metadata_note(mode, owner, group, want_mode, want_owner, want_group) -> str:
    notes = []
    if mode != want_mode:
        notes.append(f"mode {mode:04o} -> {want_mode:04o}" if mode is not None else "")
    if owner != want_owner:
        notes.append(f"owner {owner} -> {want_owner}")
    if want_group and group != want_group:
        notes.append(f"group {group} -> {want_group}")
    return ", ".join(n for n in notes if n)


def redact_values(text: str | None, keys: tuple[str, ...]) -> str | None:
    """`ping_url: https://hc/UUID` -> `ping_url: <secret>`, for every YAML line of `keys`."""
    if text is None or not keys:
        return text
    pattern = re.compile(rf"^(\s*(?:- )?(?:{'|'.join(map(re.escape, keys))}):[ \t]*)\S.*$", re.M)
    return pattern.sub(rf"\g<1>{SECRET_VALUE}", text)


def redacted_diff(old: str | None, new: str, label: str, keys: tuple[str, ...]) -> str:
    shown_old, shown_new = redact_values(old, keys), redact_values(new, keys)
    if shown_old == shown_new:
        return f"--- a/{label}\n+++ b/{label}\n(only a secret value changed: {', '.join(keys)})\n"
    return unified_diff(shown_old, shown_new, label)
