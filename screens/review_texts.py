"""What the review says, as functions of the wizard's state: the heading over a diff, a
host's row and note, the warnings under the tree, and the question before the apply."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from screens.state import WizardState
from wizard.reports import change_heading, phase_name, safe_text
from wizard.session import Change, Plan, plan_warnings


def diff_title(change: Change, wrap: bool, maximised: bool = False) -> Content:
    """The full heading (host, verb, whole path), the phase, and the keys for this view."""
    about = phase_name(change)
    if change.kind in ("file", "crontab") and change.description:
        about += f" · {change.description}"
    size = "restore (m or esc)" if maximised else "maximise (m)"
    return Content.assemble(
        (change_heading(change), "bold"),
        "\n",
        (f"{about} · wrap {'on' if wrap else 'off'} (w) · {size}", "dim"),
    )


def takeover_lines(plan: Plan | None, host: str | None = None) -> list[str]:
    """What each takeover in the plan changes (`Takeover.describe()`), by client; only
    `host`'s with it."""
    takeovers = plan.takeovers if plan is not None else {}
    return [
        safe_text(f"{client}: {line}", keep_newlines=False)
        for client, takeover in takeovers.items()
        if host in (None, client)
        for line in takeover.describe()
    ]


def host_label(state: WizardState, host: str) -> Text:
    """A host's row in the tree: in or out of this apply, and how many changes."""
    n = len(state.plan.for_host(host)) if state.plan else 0
    role = " (server)" if host == state.server_name else ""
    if host in state.left_out:
        return Text.assemble(("[ ] ", "bold"), f"{host}{role} · left out", style="dim")
    return Text.assemble(("[x] ", "bold"), f"{host}{role} · {n} change{'s' * (n != 1)}")


def host_note(state: WizardState, host: str) -> Content:
    """Shown in place of a diff while the host's own row is highlighted."""
    changes = state.plan.for_host(host) if state.plan else []
    part = "left out of" if host in state.left_out else "part of"
    takeover = "".join(f"\n  {line}" for line in takeover_lines(state.plan, host))
    if takeover:
        takeover = f"\n\nIts existing Borg setup is taken over:{takeover}"
    return Content(
        f"{len(changes)} change(s); this host is {part} this apply.\n"
        "Move down to a change to see its diff; x leaves the host out or takes it in." + takeover
    )


def warnings_of(state: WizardState) -> list[str]:
    """The plan's warnings, the hosts that could not be reached, the secrets store's."""
    warnings = plan_warnings(state.plan) if state.plan else []
    session = state.session
    if session is not None:
        warnings += [
            f"{host} is unreachable and will NOT be configured: {why}"
            for host, why in session.errors.items()
        ]
        if session.store.warning:
            warnings.append(session.store.warning)
    return warnings


def warnings_text(takeovers: list[str], warnings: list[str]) -> str:
    """The takeovers' steps, then the warnings, one a line."""
    lines = [f"↻ {line}" for line in takeovers]
    lines += [f"⚠ {safe_text(w, keep_newlines=False)}" for w in warnings]
    return "\n".join(lines) if lines else "No warnings."


def confirmation_text(state: WizardState) -> str:
    """The question before the apply: what changes where, what is left out or unreachable,
    where the inventory is saved."""
    plan = state.plan_to_apply()
    hosts = [host for host in plan.hosts if plan.for_host(host)]
    lines = (
        [f"Apply {len(plan.changes)} change(s) on {len(hosts)} host(s): {', '.join(hosts)}."]
        if plan.changes
        else ["Nothing to change on the hosts in this apply."]
    )
    left_out = sorted(state.left_out)
    if left_out:
        lines.append(f"Left out of this apply (nothing is written there): {', '.join(left_out)}.")
    session = state.session
    if session is not None and session.errors:
        lines.append(f"Unreachable, NOT configured: {', '.join(sorted(session.errors))}.")
    lines.append(
        f"\nThe inventory is saved to {state.inventory_path} after a successful "
        "apply (hosts not configured stay in it, for the next run)."
    )
    return "\n".join(lines)
