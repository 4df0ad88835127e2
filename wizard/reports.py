"""The words of every result, produced once: the CLI prints them, the wizard shows them.

Plans, apply outcomes and verify proofs each have one text form here (symbols, counts,
one-line details), so a plan printed by `borgkeep plan` and one shown on the review
screen say the same thing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime

from wizard.pipeline.apply import ApplyResult
from wizard.pipeline.desired.items import PHASE_NAMES
from wizard.pipeline.facts import HostFacts, client_layout
from wizard.pipeline.first_backup import FirstBackup
from wizard.pipeline.plan import Change, Plan, plan_warnings
from wizard.pipeline.status import ClientStatus, StatusReport
from wizard.pipeline.verify import VerifyReport
from wizard.safe_text import safe_text

__all__ = [
    "NOTHING_TO_CHANGE",
    "ago",
    "client_problem_lines",
    "apply_result_lines",
    "change_heading",
    "change_label",
    "client_commands",
    "event_line",
    "first_backup_line",
    "not_configured_lines",
    "phase_name",
    "plan_summary",
    "proof_rows",
    "render_plan_text",
    "render_verify_report",
    "safe_text",
    "secrets_lines",
    "server_space_line",
    "status_rows",
    "status_verdict",
    "what_to_do_lines",
    "verify_summary",
    "wraps_by_default",
]

MARK_DONE, MARK_ERROR, MARK_SKIP, MARK_STEP = "✓", "✗", "-", "·"

EVENT_MARKS = {"done": MARK_DONE, "error": MARK_ERROR, "skip": MARK_SKIP}
NOTHING_TO_CHANGE = "Nothing to change: every host is already in the desired state."


def event_line(host: str, level: str, message: str) -> str:
    """One progress event (`on_event(host, level, message)`) as a log line."""
    mark = EVENT_MARKS.get(level, MARK_STEP)
    message = safe_text(message, keep_newlines=False)
    return f"{mark} {host}: {message}" if host else f"{mark} {message}"


# --- plans ------------------------------------------------------------------------------


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


def render_plan_text(plan: Plan, brief_lines: int | None = None) -> str:
    """The human form of a plan, as `borgkeep plan` prints it; with `brief_lines`, a diff
    longer than that (the prune guard program) is cut to its first lines."""
    out: list[str] = []
    if plan.empty:
        out.append(NOTHING_TO_CHANGE)
    for host in plan.hosts:
        host_changes = plan.for_host(host)
        if not host_changes:
            continue
        out.append(f"=== {host}: {len(host_changes)} change(s)")
        for change in host_changes:
            out.append(f"--- [{phase_name(change)}] {change.title}")
            diff = change.diff.rstrip("\n")
            out.append(brief_diff(diff, brief_lines) if brief_lines else diff)
    for warning in plan_warnings(plan):
        out.append(f"warning: {safe_text(warning)}")
    counts = plan.summary()
    total = sum(sum(v.values()) for v in counts.values())
    out.append(f"{total} change(s) on {sum(1 for v in counts.values() if v)} host(s)")
    return "\n".join(out) + "\n"


def plan_summary(plan: Plan, left_out: set[str]) -> str:
    """One line: how many changes will be applied, and per host what kind."""
    counts = plan.summary()
    parts = []
    for host in plan.hosts:
        per = counts.get(host, {})
        words = ", ".join(f"{n} {action}" for action, n in sorted(per.items())) or "no changes"
        mark = " (left out)" if host in left_out else ""
        parts.append(f"{host}: {words}{mark}")
    total = sum(len(plan.for_host(h)) for h in plan.hosts if h not in left_out)
    return f"{total} change(s) to apply — " + "; ".join(parts)


# --- apply ------------------------------------------------------------------------------


def apply_result_lines(result: ApplyResult) -> list[str]:
    """One line per host: applied, skipped, or the step that failed and why."""
    lines = []
    for host, outcome in result.outcomes.items():
        if outcome.error:
            error = safe_text(str(outcome.error))
            lines.append(f"{MARK_ERROR} {host}: failed at {outcome.error.step}: {error}")
        elif outcome.skipped:
            lines.append(f"{MARK_SKIP} {host}: {len(outcome.skipped)} step(s) skipped")
        elif outcome.done:
            lines.append(f"{MARK_DONE} {host}: {len(outcome.done)} change(s) applied")
    return lines


def secrets_lines(result: ApplyResult, session) -> list[str]:
    """Where the secrets went and how to keep a copy (`session` is a `FleetSession`)."""
    store = session.store
    lines = [f"secrets (repository passphrases and exported keys) are stored in {store.location}"]
    for client, name in result.exported_keys.items():
        lines.append(
            f"  the repository key of {client} was exported to the secrets store as {name!r}"
        )
    lines += store.backup_advice(session.secret_names())
    return lines


def not_configured_lines(session) -> list[str]:
    """Clients in the inventory that this run did not set up, and why."""
    return [
        f"{MARK_SKIP} {name}: NOT configured ({safe_text(why, False)}); it stays in the "
        "inventory: run borgkeep again to set it up"
        for name, why in session.not_configured.items()
    ]


@dataclass(frozen=True)
class ClientCommands:
    """The exact commands, on a client, to back up now, list archives and restore a file."""

    client: str
    login: str
    config: str
    backup: str
    list: str

    def restore(self, path: str, destination: str = "/tmp") -> str:
        """Extract `path` (absolute, as backed up) from the newest archive under
        `destination` (an existing directory): `/etc/hosts` lands in `/tmp/etc/hosts`."""
        return shlex.join(
            [
                *shlex.split(self.list)[:3],
                "extract",
                "--archive",
                "latest",
                "--path",
                path.lstrip("/"),
                "--destination",
                destination,
            ]
        )


def client_commands(client: str, facts: HostFacts) -> ClientCommands:
    """Built from the facts and the same layout the renderer used, never by hand."""
    borgmatic = facts.borgmatic_path or "borgmatic"
    config = client_layout(facts, client).config
    base = [borgmatic, "-c", config]
    return ClientCommands(
        client=client,
        login=facts.login_user,
        config=config,
        backup=shlex.join([*base, "create", "--verbosity", "1", "--stats"]),
        list=shlex.join([*base, "list"]),
    )


def first_backup_line(outcome: FirstBackup) -> str:
    """`✓ host1: archive made in 12 s` or `✗ host1: no backup — why`."""
    if outcome.ok:
        return f"{MARK_DONE} {outcome.client}: {outcome.detail} in {outcome.seconds:.0f} s"
    return f"{MARK_ERROR} {outcome.client}: no backup — {safe_text(outcome.detail, False)}"


# --- verify -----------------------------------------------------------------------------


def proof_rows(report: VerifyReport) -> list[tuple[str, str, str, str]]:
    """(mark, host, proof, detail) for every proof, then every host that was not verified."""
    rows = [
        (MARK_DONE if p.ok else MARK_ERROR, p.host, p.name, safe_text(p.detail, False))
        for p in report.proofs
    ]
    rows += [
        (MARK_SKIP, host, "left out of this apply", "not verified") for host in report.left_out
    ]
    return rows


def verify_summary(report: VerifyReport) -> str:
    passed = sum(1 for p in report.proofs if p.ok)
    if report.ok:
        return f"All {passed} proofs passed."
    return f"{passed} of {len(report.proofs)} proofs passed: see the {MARK_ERROR} rows."


def render_verify_report(report: VerifyReport) -> str:
    """`borgkeep verify` output."""
    lines = ["Verification:"]
    for proof in report.proofs:
        mark = MARK_DONE if proof.ok else MARK_ERROR
        lines.append(f"  {mark} {proof.host}: {proof.name} — {safe_text(proof.detail, False)}")
    for host in report.left_out:
        lines.append(f"  {MARK_SKIP} {host}: left out of this apply, not verified")
    passed = sum(1 for p in report.proofs if p.ok)
    lines.append(
        f"all proofs passed ({passed})"
        if report.ok
        else f"SOME PROOFS FAILED: {passed} of {len(report.proofs)} passed"
    )
    return "\n".join(lines) + "\n"


# --- status -----------------------------------------------------------------------------

STATE_MARKS = {
    "ok": MARK_DONE,
    "stale": "!",
    "never": "?",
    "refused": MARK_ERROR,
    "error": MARK_ERROR,
}


def ago(moment: datetime | None, now: datetime) -> str:
    """`3 h ago`, `2 days ago`, `12 min ago`; `never` without a moment."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def human_size(amount: int | None) -> str:
    if amount is None:
        return "-"
    value = float(amount)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{amount} B"


def guard_summary(client: ClientStatus, now: datetime) -> str:
    """The guard's last result and when, the way `last backup` says it: `refused 4 h ago`."""
    if not client.guard:
        return "-"
    result = client.guard.get("last_result") or {}
    when = result.get("time") or client.guard.get("last_run")
    status = safe_text(str(result.get("status", "ok")), False)
    return f"{status} {ago(datetime.fromisoformat(when), now)}" if when else status


def status_rows(report: StatusReport, now: datetime) -> list[tuple[str, ...]]:
    """(mark, client, state, last backup, archives, size, guard, repository use of its
    quota), problems first."""
    rows = []
    for client in report.by_urgency():
        quota = client.quota or {}
        used, limit = quota.get("used"), quota.get("limit")
        rows.append(
            (
                STATE_MARKS.get(client.state, MARK_ERROR),
                client.name,
                client.state,
                ago(client.newest_time, now),
                str(client.archives),
                human_size(client.size),
                guard_summary(client, now),
                f"{human_size(used)} of {human_size(limit)}" if limit else human_size(used),
            )
        )
    return rows


def client_problem_lines(client: ClientStatus) -> list[str]:
    return [f"{client.name}: {safe_text(problem, False)}" for problem in client.problems]


def server_space_line(report: StatusReport) -> str | None:
    """`server nas: 412.3 GiB free of 1.8 TiB at /srv/backups` (`  LOW` when low)."""
    server = report.server
    if "free" not in server:
        return None
    low = "  LOW" if server.get("low_space") else ""
    return (
        f"server {server.get('name') or ''}: {human_size(server['free'])} free of "
        f"{human_size(server['total'])} at {server['repo_root']}{low}"
    )


def status_verdict(report: StatusReport) -> str:
    return "all clients ok" if report.ok else f"{len(report.attention)} client(s) need attention"


def render_status_text(report: StatusReport, now: datetime) -> str:
    """`borgkeep status`: one row per client (problems first), their problems, the disk."""
    header = ("", "client", "state", "last backup", "archives", "size", "guard", "repository")
    rows = [header, *status_rows(report, now)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for client in report.by_urgency():
        lines += client_problem_lines(client)
    space = server_space_line(report)
    if space:
        lines.append(space)
    lines.append(status_verdict(report))
    return "\n".join(lines) + "\n"


def what_to_do_lines(report: StatusReport, client: ClientStatus) -> list[str]:
    """For one client: its problems, then the exact commands to look into its repository on
    the server and, after a refusal, to accept the archives as they are now."""
    lines = client_problem_lines(client) or [f"{client.name}: {client.state}"]
    by_hand = report.by_hand
    if by_hand is None:
        return lines
    lines += [
        "",
        f"Look on the server (ssh {by_hand.login}), as the borg user; nothing here changes "
        "anything:",
        f"  {by_hand.guard('check', client.name)}",
        f"  {by_hand.list_archives(client.name)}",
    ]
    if client.state == "refused":
        lines += [
            "",
            "The guard keeps refusing (and alerting) until you decide. If the archives are "
            "right as they are now (junk deleted, a deletion you wanted), accept them; the "
            "next run prunes normally:",
            f"  {by_hand.guard('acknowledge', client.name)}",
            "",
            "To get deleted archives back first, follow 'Recovering deleted archives' in the "
            "README (Borg's append-only rollback): every segment is still on disk.",
        ]
    return lines
