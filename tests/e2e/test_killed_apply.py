"""SIGKILL after every step of a from-scratch `borgkeep apply --yes`, then the same command
again: it exits 0 with its proofs, a second plan is empty, the client's cron line backs up
and the server's guard job runs clean. A killed process leaves nothing the next plan does
not see. (SIGINT after every step: `test_interrupted_apply`, which this file shares its
lab fixture and helpers with; the two run side by side in CI.)"""

from __future__ import annotations

import signal

import pytest

from .helpers import Operator, root_required  # noqa: F401  (an autouse fixture)
from .test_interrupted_apply import (  # noqa: F401  (operator is a fixture)
    STEPS,
    assert_converges,
    operator,
    run_and_interrupt,
    step_id,
)

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("after", STEPS, ids=step_id)
def test_a_killed_apply_leaves_nothing_the_next_plan_does_not_see(
    operator: Operator,  # noqa: F811
    after: tuple[str, str],
) -> None:
    run = run_and_interrupt(operator, ["apply", "--yes", "--no-verify"], after, signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL, run.describe()
    assert_converges(operator, operator.lab, cron=True)
