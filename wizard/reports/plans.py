"""Plans as text: `borgkeep plan`'s output, the review screen's headings, labels, summary."""

from __future__ import annotations

from wizard.pipeline.desired.items import PHASE_NAMES
from wizard.pipeline.plan import Change, Plan, plan_warnings
from wizard.reports.marks import NOTHING_TO_CHANGE
from wizard.safe_text import safe_text


def phase_name(change: Change) -> str:
    return PHASE_NAMES.get(change.phase, str(change.phase))


def change_target(change: Change) -> str:
    """What a change acts on, in words: a path, `crontab of borg`, or the command's name."""
    if change.kind == "command":
        return change.action
    if change.kind == "crontab" and change.path and change.path.startswith("crontab:"):
        return f"crontab of {change.path.removeprefix('crontab:')}"
    return change.path or change.action


def change_heading(change: Change) -> str:
    """The full title of a change with its host: `nas: update /home/borg/.ssh/authorized_keys`,
    `nas: create crontab of borg`, `host1: run generate-key`."""
    verb = "run" if change.kind == "command" else change.action
    return f"{change.host}: {verb} {change_target(change)}"


SHORT_VERBS = {"create": "new", "update": "edit", "permissions": "chmod"}


def change_label(change: Change) -> str:
    """A short label (for a tree at 80 columns): a short verb and the file's own name, never
    a cut path; `change_heading` has the full path."""
    if change.kind == "command":
        return f"run {change.action}"
    target = change_target(change)
    if change.kind in ("file", "dir") and "/" in target.rstrip("/"):
        target = target.rstrip("/").rsplit("/", 1)[1] + ("/" if change.kind == "dir" else "")
    return f"{SHORT_VERBS.get(change.action, change.action)} {target}"


KEY_LINE_FILES = ("authorized_keys", "known_hosts")


def wraps_by_default(change: Change) -> bool:
    """Key lines (authorized_keys, known_hosts) are one long line each, and commands and
    directories are one sentence: those read better wrapped. Config files keep their
    layout (long lines scroll sideways)."""
    if change.kind in ("command", "dir"):
        return True
    return bool(change.path) and change.path.rsplit("/", 1)[-1].endswith(KEY_LINE_FILES)


def brief_diff(diff: str, max_lines: int) -> str:
    """The first lines of a long diff and how many more there are."""
    lines = diff.rstrip("\n").splitlines()
    if len(lines) <= max_lines:
        return diff.rstrip("\n")
    head = lines[: max_lines // 4]
    more = len(lines) - len(head)
    return "\n".join(
        [*head, f"... {more} more line(s) not shown here (without --brief: every line)"]
    )


def _hosts(count: int) -> str:
    return f"{count} host{'s' * (count != 1)}"


def unchecked_line(plan: Plan) -> str:
    """`1 host could not be checked: client2 (unreachable: ...)`; "" when every host was."""
    if not plan.unchecked:
        return ""
    which = ", ".join(
        f"{host} (unreachable: {safe_text(reason, keep_newlines=False)})"
        for host, reason in plan.unchecked.items()
    )
    return f"{_hosts(len(plan.unchecked))} could not be checked: {which}"


def plan_headline(plan: Plan, nothing: str = NOTHING_TO_CHANGE) -> str:
    """The line a plan opens with: `nothing` for an empty plan of a fleet checked whole,
    and whenever a host could not be checked, how many and which: a plan never claims
    that hosts it did not look at are in their desired state. "" when there is none."""
    if not plan.unchecked:
        return nothing if plan.empty else ""
    checked = _hosts(len(plan.hosts))
    if plan.empty:
        return f"No change planned for the {checked} checked; {unchecked_line(plan)}."
    return f"This plan covers the {checked} checked; {unchecked_line(plan)}."


def render_plan_text(
    plan: Plan, brief_lines: int | None = None, nothing: str = NOTHING_TO_CHANGE
) -> str:
    """The human form of a plan, as `borgkeep plan` prints it; with `brief_lines`, a diff
    longer than that (the prune guard program) is cut to its first lines."""
    out: list[str] = []
    headline = plan_headline(plan, nothing)
    if headline:
        out.append(headline)
    for host in plan.hosts:
        host_changes = plan.for_host(host)
        if not host_changes:
            continue
        out.append(f"=== {host}: {len(host_changes)} change(s)")
        for change in host_changes:
            out.append(f"--- [{phase_name(change)}] {change.title}")
            diff = change.diff.rstrip("\n")
            out.append(brief_diff(diff, brief_lines) if brief_lines else diff)
    out += existing_setup_lines(plan)
    for warning in plan_warnings(plan):
        out.append(f"warning: {safe_text(warning)}")
    counts = plan.summary()
    total = sum(sum(v.values()) for v in counts.values())
    last = f"{total} change(s) on {sum(1 for v in counts.values() if v)} host(s)"
    if plan.unchecked:
        last += f"; {_hosts(len(plan.unchecked))} not checked"
    out.append(last)
    return "\n".join(out) + "\n"


def existing_setup_lines(plan: Plan) -> list[str]:
    """What each client already has that is not Borgkeep's, one line per client (never a
    passphrase: its source only)."""
    out = []
    for client, takeover in plan.takeovers.items():
        if takeover.done:
            out += [
                safe_text(f"{client}: {line}", keep_newlines=False) for line in takeover.describe()
            ]
            continue
        out.append(f"takeover of {client}'s existing setup:")
        out += [safe_text(f"  {line}", keep_newlines=False) for line in takeover.describe()]
    shown = {c: found for c, found in plan.existing.items() if c not in plan.takeovers}
    if not shown:
        return out
    out.append("existing Borg setup found (read-only: this plan changes none of it):")
    for client, found in shown.items():
        parts = [found.describe()]
        for config in found.configs.configs:
            if config.managed_by_borgkeep:
                continue
            retention = ", ".join(f"{k} {v}" for k, v in config.options.retention.items())
            parts.append(f"config {config.path}" + (f" (retention: {retention})" * bool(retention)))
        parts += [f"job {job.describe()}" for job in found.jobs if not job.managed_by_borgkeep]
        parts += [f"not understood: {problem}" for problem in found.problems]
        out.append(safe_text(f"  {client}: " + "; ".join(parts), keep_newlines=False))
    return out


def plan_summary(plan: Plan, left_out: set[str]) -> str:
    """One line: how many changes will be applied, and per host what kind."""
    counts = plan.summary()
    parts = []
    for host in plan.hosts:
        per = counts.get(host, {})
        words = ", ".join(f"{n} {action}" for action, n in sorted(per.items())) or "no changes"
        mark = " (left out)" if host in left_out else ""
        parts.append(f"{host}: {words}{mark}")
    parts += [f"{host}: not checked (unreachable)" for host in plan.unchecked]
    total = sum(len(plan.for_host(h)) for h in plan.hosts if h not in left_out)
    return f"{total} change(s) to apply — " + "; ".join(parts)
