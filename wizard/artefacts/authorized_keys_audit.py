"""Reading the borg user's authorized_keys as sshd would, for lines that undo the pins.

sshd uses the first line that carries the key a client offers. So a hand-written line
outside Borgkeep's block with a managed client's key (above the block, or with no forced
command at all) wins over the pinned line, and any `borg serve` without `--append-only`
gives its key the right to delete. The plan warns about such lines and `verify` fails,
each naming the line number.

`remove_key_lines` takes such lines out when Borgkeep takes a server over, leaving one
comment per line that says what it was (`# borgkeep took over, removed: read-write borg
serve line of ssh-ed25519 SHA256:... web-1@old`): the key and its options are gone, the
diff and the comment keep the trace. `removed_key_lines` reads those back on a later run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from wizard.artefacts.authorized_keys import PUBLIC_KEY_TYPES
from wizard.artefacts.managed_block import (
    BEGIN_MARKER,
    END_MARKER,
    foreign_lines_with_prefix,
    replace_foreign_lines,
)

REMOVED_KEY_PREFIX = "# borgkeep took over, removed: "
"""Starts the comment left where Borgkeep removed a key line; what the line was follows."""


@dataclass(frozen=True)
class KeyLine:
    """One key line of an authorized_keys file, as sshd reads it."""

    number: int
    options: str
    key_type: str
    blob: str
    comment: str
    in_block: bool

    @property
    def forced_command(self) -> str | None:
        return option_value(self.options, "command")


def _first_token(text: str) -> tuple[str, str]:
    """Split off the first space-separated token, spaces inside double quotes included."""
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in " \t" and not quoted:
            return text[:index], text[index:].lstrip(" \t")
    return text, ""


def split_options(options: str) -> list[str]:
    """`command="a,b",restrict` -> ['command="a,b"', 'restrict']: commas inside quotes stay."""
    parts, current, quoted, escaped = [], [], False, False
    for char in options:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part]


def option_value(options: str, name: str) -> str | None:
    """The value of `name="..."` in an options field (`\\"` unescaped), or None."""
    for option in split_options(options):
        key, sep, value = option.partition("=")
        if sep and key.strip().lower() == name and value.startswith('"'):
            body = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
            return body.replace('\\"', '"')
    return None


def key_lines(text: str | None) -> list[KeyLine]:
    """Every line that carries a key, with its 1-based number; others are skipped."""
    lines: list[KeyLine] = []
    in_block = False
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.rstrip("\r").strip()
        if line == BEGIN_MARKER:
            in_block = True
            continue
        if line == END_MARKER:
            in_block = False
            continue
        if not line or line.startswith("#"):
            continue
        first, rest = _first_token(line)
        options = ""
        if first not in PUBLIC_KEY_TYPES:
            options, (first, rest) = first, _first_token(rest)
        if first not in PUBLIC_KEY_TYPES:
            continue
        blob, comment = _first_token(rest)
        if blob:
            lines.append(KeyLine(number, options, first, blob, comment, in_block))
    return lines


def runs_borg_serve(command: str) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return any(
        word.rsplit("/", 1)[-1] == "borg" and words[i + 1 : i + 2] == ["serve"]
        for i, word in enumerate(words)
    )


def _who(line: KeyLine) -> str:
    return f"{line.key_type} key {line.comment!r}" if line.comment else f"a {line.key_type} key"


def audit_authorized_keys(text: str | None, managed_keys: Mapping[str, str]) -> list[str]:
    """One message per line that weakens the pins; `managed_keys`: key blob -> client."""
    problems = []
    for line in key_lines(text):
        client = managed_keys.get(line.blob)
        command = line.forced_command
        if client is not None and not line.in_block:
            how = "with no forced command" if command is None else "outside borgkeep's block"
            problems.append(
                f"line {line.number} carries the key of client {client} {how}: sshd may use "
                "it instead of the pinned append-only line — remove it"
            )
        unsafe = command is not None and runs_borg_serve(command)
        if unsafe and "--append-only" not in command.split():
            problems.append(
                f"line {line.number} runs borg serve without --append-only for "
                f"{_who(line)}: that key can delete archives"
            )
    return problems


def fingerprint(blob: str) -> str:
    """`SHA256:...` as `ssh-keygen -l` prints it, or `SHA256:?` for key data that is not
    base64."""
    try:
        data = base64.b64decode(blob, validate=True)
    except (ValueError, binascii.Error):
        return "SHA256:?"
    return "SHA256:" + base64.b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def _access(line: KeyLine) -> str:
    command = line.forced_command
    if command is None:
        return "unrestricted key line (no forced command)"
    if not runs_borg_serve(command):
        return "forced-command key line"
    if "--append-only" in command.split():
        return "append-only borg serve line"
    return "read-write borg serve line"


def removal_comment(line: KeyLine) -> str:
    """The comment that replaces a removed key line: what it allowed, the key's type,
    fingerprint and comment. Never the key data or the options, so nothing of the line
    can be used again (and no key data stays for `render_authorized_keys` to find)."""
    who = f"{line.key_type} {fingerprint(line.blob)}"
    if line.comment:
        who += f" {line.comment}"
    return f"{REMOVED_KEY_PREFIX}{_access(line)} of {who}"


def remove_key_lines(text: str | None, line_numbers: Collection[int]) -> str:
    """`text` (an authorized_keys file) with each given 1-based key line replaced by its
    `removal_comment`; every other byte is kept, Borgkeep's block included.

    A comment or blank line, so also one removed before, stays as it is: removing again
    changes nothing. A line in Borgkeep's block, a number out of range, and a line that
    holds no key this module can read raise ValueError.
    """
    by_number = {line.number: line for line in key_lines(text)}

    def remove(number: int, content: str) -> str | None:
        stripped = content.strip()
        if not stripped or stripped.startswith("#"):
            return None
        if number not in by_number:
            raise ValueError(f"authorized_keys line {number} holds no key Borgkeep can read")
        return removal_comment(by_number[number])

    return replace_foreign_lines(text, line_numbers, remove, "authorized_keys")


def removed_key_lines(text: str | None) -> dict[int, str]:
    """1-based line number -> what was removed, for each line Borgkeep removed in `text`."""
    return foreign_lines_with_prefix(text, REMOVED_KEY_PREFIX)
