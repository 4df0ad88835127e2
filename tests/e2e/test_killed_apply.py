"""SIGKILL after each of the first half of the steps of a from-scratch `borgkeep apply
--yes` (the second half: `test_killed_apply_late`), then the same command again: it exits 0
with its proofs (the guard's check of the baseline among them), a second plan is empty and
the client's cron line backs up. A killed process leaves nothing the next plan does not see. (SIGINT
after every step: `test_interrupted_apply` and its `_late` half, whose lab fixture and
helpers these files share; CI runs the four side by side.)"""

from __future__ import annotations

import signal

import pytest

from .helpers import Operator, root_required  # noqa: F401  (an autouse fixture)
from .test_interrupted_apply import (  # noqa: F401  (operator is a fixture)
    HALF,
    STEPS,
    interrupted_then_converges,
    operator,
    step_id,
)

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("after", STEPS[:HALF], ids=step_id)
def test_a_killed_apply_leaves_nothing_the_next_plan_does_not_see(
    operator: Operator,  # noqa: F811
    after: tuple[str, str],
) -> None:
    interrupted_then_converges(operator, after, signal.SIGKILL)
