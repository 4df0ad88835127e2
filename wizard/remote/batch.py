"""Several step scripts of one host, run as one account, in one remote process.

Each step runs in its own subshell (its `set -eu`, traps, `umask` and `exit` stay its own),
reading exactly its own bytes of the shared stdin (`head -c N`), so a step sees what it
would see alone: its content, then EOF. What a step leaves unread (a write that finds the
content already there exits before reading it) is drained, so `head` always takes its
whole share and the next step's bytes stay aligned. The batch stops at the first step that fails and
says, per step, where its stderr begins and how it ended: each step keeps its own
reporting, atomicity and staleness refusal. Secrets still travel on stdin only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = "@@borgkeep-step"
END = "@@borgkeep-end"
# A batch's text goes on one command line (`sh -c`, maybe inside `runuser ... sh -c`); one
# argument may hold 128 KiB, quoting can grow it, so batches stay well below.
MAX_BATCH_CHARS = 40_000

_END_LINE = re.compile(rf"^{END} (\d+) (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class StepRun:
    """How one step of a batch ended: its exit code and its own stderr."""

    rc: int
    stderr: str


def batch_script(steps: list[tuple[str, int]]) -> str:
    """One script running `steps` (each a script and the length of its stdin share) in
    order, stopping at the first that fails, with its exit code."""
    lines = ["set -u"]
    for number, (script, length) in enumerate(steps):
        step = f"(\n{script.rstrip()}\n)"
        run = f"{step} </dev/null"  # no stdin share: nothing to cut or drain
        if length:
            run = f"head -c {length} | {{ {step}; rc=$?; cat >/dev/null; exit $rc; }}"
        lines += [
            f"printf '\\n{BEGIN} {number}\\n' >&2",
            run,
            f"rc=$?; printf '\\n{END} {number} %s\\n' \"$rc\"",
            '[ "$rc" -eq 0 ] || exit "$rc"',
        ]
    return "\n".join(lines) + "\n"


def split_batches(scripts: list[str]) -> list[list[int]]:
    """Indexes of `scripts` grouped into batches that each fit one command line."""
    batches: list[list[int]] = []
    size = MAX_BATCH_CHARS
    for index, script in enumerate(scripts):
        if size + len(script) > MAX_BATCH_CHARS and (not batches or batches[-1]):
            batches.append([])
            size = 0
        batches[-1].append(index)
        size += len(script) + 120
    return batches


def parse_batch(stdout: str, stderr: str, count: int) -> list[StepRun]:
    """How each step that ran ended, in order (fewer than `count` when the batch stopped or
    the connection broke); a step's stderr is what it wrote after its own marker."""
    ended = {int(m.group(1)): int(m.group(2)) for m in _END_LINE.finditer(stdout)}
    errors: dict[int, str] = {}
    current = None
    for line in stderr.splitlines():
        if line.startswith(f"{BEGIN} ") and line[len(BEGIN) + 1 :].isdigit():
            current = int(line[len(BEGIN) + 1 :])
            errors[current] = ""
        elif current is not None and line:
            errors[current] += line + "\n"
    runs = []
    for number in range(count):
        if number not in ended:
            break
        runs.append(StepRun(ended[number], errors.get(number, "").strip()))
        if ended[number] != 0:
            break
    return runs
