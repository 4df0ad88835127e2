"""The words of a client's later life (remove, rotate-key, recover, restore) and of the
restore drill, for the CLI and the wizard alike; `wizard.reports` re-exports them."""

from __future__ import annotations

from datetime import datetime

from wizard.safe_text import safe_text

ACTION_TITLES = {
    "remove": "Retire {client}",
    "rotate-key": "Rotate the key of {client}",
    "recover": "Recover {client} after a guard refusal",
    "restore": "Restore a file onto {client}",
}


def lifecycle_title(action: str, client: str) -> str:
    return ACTION_TITLES.get(action, action).format(client=client)


def lifecycle_plan_text(planned) -> str:
    """A lifecycle plan (`LifecyclePlan`): its title, what to read first, the diffs, and the
    choice still to make."""
    request = planned.request
    lines = [lifecycle_title(request.action, request.client)]
    lines += [f"  {safe_text(note, keep_newlines=False)}" for note in planned.notes]
    text = "\n".join(lines) + "\n"
    nothing = "" if planned.choice or planned.notes else "Nothing to do."
    if not planned.plan.empty or nothing:
        from wizard.reports import render_plan_text

        text += render_plan_text(planned.plan, nothing=nothing)
    if planned.choice:
        text += f"{planned.choice}\n"
    return text


def lifecycle_result_lines(outcome) -> list[str]:
    """After a lifecycle apply (`LifecycleOutcome`): each host's result, what the commands
    proved or reported, the secrets forgotten."""
    from wizard.reports import apply_result_lines

    lines = apply_result_lines(outcome.result)
    lines += [f"  {safe_text(note, keep_newlines=False)}" for note in outcome.result.notes]
    lines += [f"  removed {name} from the secrets store" for name in outcome.forgotten]
    return lines


def drill_line(guard: dict, now: datetime) -> str | None:
    """`last restore drill: 2 days ago, ok (client1-2026-...)`, from the status's `guard`
    entry; None when the server never ran one for this client."""
    from wizard.reports import ago

    drill = (guard or {}).get("last_drill") or {}
    if not drill.get("time"):
        return None
    try:
        moment = datetime.fromisoformat(drill["time"])
    except ValueError:
        return None
    archive = f" ({safe_text(str(drill['archive']), False)})" if drill.get("archive") else ""
    status = safe_text(str(drill.get("status", "?")), False)
    return f"last restore drill: {ago(moment, now)}, {status}{archive}"
