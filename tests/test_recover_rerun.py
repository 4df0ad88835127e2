"""`recover CLIENT --rollback` run again after the rollback itself was done (an interrupt
skipped the client's `forget-cache`): it plans only what is left, or nothing.

The planning side of `tests/e2e/test_interrupted_lifecycle.py`'s rollback case.
"""

from __future__ import annotations

import json

from tests.test_lifecycle_plan import applied_session, inspect_report, planned
from wizard.pipeline.lifecycle.request import LifecycleReadings, LifecycleRequest


def rolled_back_report() -> str:
    """The guard's inspection right after a rollback: nothing vanished or touched, its last
    result the rollback's, and nothing to roll back."""
    report = json.loads(inspect_report())
    report.update(
        vanished=[],
        touched_objects=0,
        last_result={"status": "ok", "time": "2026-01-03T06:00:00+00:00"},
        rollback={"possible": False, "reason": "... there is nothing to roll back"},
    )
    return json.dumps(report)


def test_a_rollback_asked_again_forgets_the_clients_cache_when_borg_refuses_it():
    session = applied_session()
    readings = LifecycleReadings(inspect=rolled_back_report(), client_refuses=True)
    result = planned(session, LifecycleRequest("recover", "host1", mode="rollback"), readings)
    assert [(c.host, c.action) for c in result.plan.changes] == [("host1", "forget-cache")]
    assert result.plan.changes[0].args["repository_id"] == "cd" * 32
    assert any("rolled back already" in note for note in result.notes)


def test_a_rollback_asked_again_has_nothing_to_do_once_the_client_accepts_it():
    session = applied_session()
    readings = LifecycleReadings(inspect=rolled_back_report(), client_refuses=False)
    result = planned(session, LifecycleRequest("recover", "host1", mode="rollback"), readings)
    assert result.plan.empty and result.choice is None
    assert "nothing to recover for host1" in result.notes
