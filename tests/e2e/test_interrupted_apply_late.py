"""Ctrl-C (SIGINT) after each of the second half of the steps of a from-scratch `borgkeep
apply --yes` (the first half, and what is asserted: `test_interrupted_apply`)."""

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


@pytest.mark.parametrize("after", STEPS[HALF:], ids=step_id)
def test_ctrl_c_late_after_a_step_reports_and_the_rerun_converges(
    operator: Operator,  # noqa: F811
    after: tuple[str, str],
) -> None:
    interrupted_then_converges(operator, after, signal.SIGINT)
