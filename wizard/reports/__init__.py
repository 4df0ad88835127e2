"""The words of every result, produced once: the CLI prints them, the wizard shows them.

Plans (`plans`), apply outcomes, first backups and proofs (`results`), the fleet's health
(`status`) and a client's later life (`lifecycle`) each have one text form here, so a
plan printed by `borgkeep plan` and one shown on the review screen say the same thing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name loads its own module on first use (PEP 562): the wizard's first screen needs the
# words of the fleet's health, not the executor that `results` describes.
_HOMES = {
    "ACTION_TITLES": "wizard.reports.lifecycle",
    "ago": "wizard.reports.status",
    "apply_result_lines": "wizard.reports.results",
    "brief_diff": "wizard.reports.plans",
    "change_heading": "wizard.reports.plans",
    "change_label": "wizard.reports.plans",
    "change_target": "wizard.reports.plans",
    "client_commands": "wizard.reports.results",
    "client_problem_lines": "wizard.reports.status",
    "ClientCommands": "wizard.reports.results",
    "drill_line": "wizard.reports.lifecycle",
    "event_line": "wizard.reports.marks",
    "EVENT_MARKS": "wizard.reports.marks",
    "first_backup_line": "wizard.reports.results",
    "guard_summary": "wizard.reports.status",
    "human_size": "wizard.reports.status",
    "interrupted_lines": "wizard.reports.results",
    "KEY_LINE_FILES": "wizard.reports.plans",
    "lifecycle_plan_text": "wizard.reports.lifecycle",
    "lifecycle_result_lines": "wizard.reports.lifecycle",
    "lifecycle_title": "wizard.reports.lifecycle",
    "MARK_DONE": "wizard.reports.marks",
    "MARK_ERROR": "wizard.reports.marks",
    "MARK_SKIP": "wizard.reports.marks",
    "MARK_STEP": "wizard.reports.marks",
    "not_configured_lines": "wizard.reports.results",
    "NOTHING_TO_CHANGE": "wizard.reports.marks",
    "phase_name": "wizard.reports.plans",
    "plan_headline": "wizard.reports.plans",
    "plan_summary": "wizard.reports.plans",
    "proof_rows": "wizard.reports.results",
    "render_plan_text": "wizard.reports.plans",
    "render_status_text": "wizard.reports.status",
    "render_verify_report": "wizard.reports.results",
    "safe_text": "wizard.safe_text",
    "secrets_lines": "wizard.reports.results",
    "server_space_line": "wizard.reports.status",
    "SHORT_VERBS": "wizard.reports.plans",
    "STATE_MARKS": "wizard.reports.status",
    "status_rows": "wizard.reports.status",
    "status_verdict": "wizard.reports.status",
    "step_error_text": "wizard.reports.results",
    "unchecked_line": "wizard.reports.plans",
    "verify_summary": "wizard.reports.results",
    "what_to_do_lines": "wizard.reports.status",
    "wraps_by_default": "wizard.reports.plans",
}

if TYPE_CHECKING:  # for readers and type checkers: the same names, eagerly
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
        plan_headline,
        plan_summary,
        render_plan_text,
        unchecked_line,
        wraps_by_default,
    )
    from wizard.reports.results import (
        ClientCommands,
        apply_result_lines,
        client_commands,
        first_backup_line,
        interrupted_lines,
        not_configured_lines,
        proof_rows,
        render_verify_report,
        secrets_lines,
        step_error_text,
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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
    "interrupted_lines",
    "lifecycle_plan_text",
    "lifecycle_result_lines",
    "lifecycle_title",
    "not_configured_lines",
    "phase_name",
    "plan_headline",
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
    "step_error_text",
    "unchecked_line",
    "verify_summary",
    "what_to_do_lines",
    "wraps_by_default",
]
