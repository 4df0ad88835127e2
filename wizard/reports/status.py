"""The fleet's health as text: `borgkeep status` and the welcome screen's table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from wizard.reports.lifecycle import drill_line
from wizard.reports.marks import MARK_DONE, MARK_ERROR
from wizard.safe_text import safe_text

if TYPE_CHECKING:  # words only: the status pipeline itself loads where it runs
    from wizard.pipeline.status import ClientStatus, StatusReport

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
    for client in report.by_urgency():
        drill = drill_line(client.guard, now)
        if drill:
            lines.append(f"{client.name}: {drill}")
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
