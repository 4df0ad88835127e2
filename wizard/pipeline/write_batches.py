"""One host's consecutive write units as few remote processes: units run as one account
go in one batch (`wizard.remote.batch`) that fits a command line; each unit still ends
with its own exit code and stderr."""

from __future__ import annotations

from typing import Any

from wizard.pipeline.write_units import WriteUnit
from wizard.remote import batch
from wizard.remote.step_timeouts import QUICK


def batches(units: list[WriteUnit]) -> list[list[WriteUnit]]:
    """`units` in order, cut where the account changes and where a batch would not fit."""
    runs: list[list[WriteUnit]] = []
    for unit in units:
        if runs and runs[-1][0].run_as == unit.run_as:
            runs[-1].append(unit)
        else:
            runs.append([unit])
    return [
        [run[index] for index in group]
        for run in runs
        for group in batch.split_batches([unit.script for unit in run])
    ]


def run_batch(connection: Any, units: list[WriteUnit]) -> list[batch.StepRun]:
    """Run one batch (`batches`); how each unit that ran ended, in order: the batch stops at
    the first failure, and a batch cut short ends with a failure saying how it ended."""
    run_as = units[0].run_as
    if len(units) == 1:
        (unit,) = units
        result = connection.run(run_as.wrap(unit.script), stdin=unit.stdin, kind=QUICK)
        return [batch.StepRun(result.rc, result.stderr.decode("utf-8", "replace").strip())]
    script = batch.batch_script([(unit.script, len(unit.stdin or b"")) for unit in units])
    stdin = b"".join(unit.stdin or b"" for unit in units)
    result = connection.run(run_as.wrap(script), stdin=stdin, kind=QUICK)
    out, err = (part.decode("utf-8", "replace") for part in (result.stdout, result.stderr))
    ran = batch.parse_batch(out, err, len(units))
    if len(ran) < len(units) and (not ran or ran[-1].rc == 0):
        message = err.strip().splitlines()[-1:] or [f"exit code {result.rc}"]
        ran.append(batch.StepRun(result.rc or 1, message[0]))
    return ran
