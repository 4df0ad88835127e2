"""The words of every result, produced once: the CLI prints them, the wizard shows them.

Plans (`plans`), apply outcomes, first backups and proofs (`results`), the fleet's health
(`status`) and a client's later life (`lifecycle`) each have one text form here, so a
plan printed by `borgkeep plan` and one shown on the review screen say the same thing.
"""

from __future__ import annotations

from wizard.reports.lifecycle import (
    ACTION_TITLES,
    drill_line,
    lifecycle_plan_text,
    lifecycle_result_lines,
    lifecycle_title,
)
from wizard.reports.marks import (
    EVENT_MARKS,
    MARK_DONE,
    MARK_ERROR,
    MARK_SKIP,
    MARK_STEP,
    NOTHING_TO_CHANGE,
    event_line,
)
from wizard.reports.plans import (
    KEY_LINE_FILES,
    SHORT_VERBS,
    brief_diff,
    change_heading,
    change_label,
    change_target,
    phase_name,
    plan_summary,
    render_plan_text,
    wraps_by_default,
)
from wizard.reports.results import (
    ClientCommands,
    apply_result_lines,
    client_commands,
    first_backup_line,
    not_configured_lines,
    proof_rows,
    render_verify_report,
    secrets_lines,
    verify_summary,
)
from wizard.reports.status import (
    STATE_MARKS,
    ago,
    client_problem_lines,
    guard_summary,
    human_size,
    render_status_text,
    server_space_line,
    status_rows,
    status_verdict,
    what_to_do_lines,
)
from wizard.safe_text import safe_text

__all__ = [
    "ACTION_TITLES",
    "ClientCommands",
    "EVENT_MARKS",
    "KEY_LINE_FILES",
    "MARK_DONE",
    "MARK_ERROR",
    "MARK_SKIP",
    "MARK_STEP",
    "NOTHING_TO_CHANGE",
    "SHORT_VERBS",
    "STATE_MARKS",
    "ago",
    "apply_result_lines",
    "brief_diff",
    "change_heading",
    "change_label",
    "change_target",
    "client_commands",
    "client_problem_lines",
    "drill_line",
    "event_line",
    "first_backup_line",
    "guard_summary",
    "human_size",
    "lifecycle_plan_text",
    "lifecycle_result_lines",
    "lifecycle_title",
    "not_configured_lines",
    "phase_name",
    "plan_summary",
    "proof_rows",
    "render_plan_text",
    "render_status_text",
    "render_verify_report",
    "safe_text",
    "secrets_lines",
    "server_space_line",
    "status_rows",
    "status_verdict",
    "verify_summary",
    "what_to_do_lines",
    "wraps_by_default",
]
