"""Several read-only commands of one host in one remote process, side by side.

Each command runs in its own subshell with its stdin closed and its stdout and stderr in
files of a private temporary directory; the script waits for all of them and prints, per
command, a marker with its exit code and then its two outputs in base64, so no output can
forge another command's result. Used where the meaning of each command survives running
next to the others (`borgkeep verify`'s per-client proofs).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

MARK = "@@borgkeep-command"


@dataclass(frozen=True)
class GroupedResult:
    """One command's exit code and output, like a `CommandResult`."""

    rc: int
    stdout: bytes
    stderr: bytes


def grouped_script(commands: list[str]) -> str:
    """One script running every command at once and reporting each."""
    lines = ["set -u", "d=$(mktemp -d) || exit 1", "trap 'rm -rf \"$d\"' EXIT"]
    for number, command in enumerate(commands):
        lines.append(f'( {command}\n) >"$d/{number}.o" 2>"$d/{number}.e" </dev/null &')
        lines.append(f"p{number}=$!")
    for number in range(len(commands)):
        lines += [
            f'wait "$p{number}"; rc=$?',
            f"printf '\\n{MARK} {number} %s\\n' \"$rc\"",
            f'base64 -w0 "$d/{number}.o"; echo; base64 -w0 "$d/{number}.e"; echo',
        ]
    return "\n".join(lines) + "\n"


def parse_grouped(stdout: bytes, count: int) -> list[GroupedResult | None]:
    """Each command's result, in order; None for one whose report is missing or broken."""
    results: list[GroupedResult | None] = [None] * count
    lines = stdout.decode("ascii", "replace").splitlines()
    for index, line in enumerate(lines):
        parts = line.split()
        if len(parts) != 3 or parts[0] != MARK or not parts[1].isdigit():
            continue
        number = int(parts[1])
        if number >= count or index + 2 >= len(lines) or not parts[2].lstrip("-").isdigit():
            continue
        try:
            out = base64.b64decode(lines[index + 1], validate=True)
            err = base64.b64decode(lines[index + 2], validate=True)
        except (binascii.Error, ValueError):
            continue
        results[number] = GroupedResult(int(parts[2]), out, err)
    return results
