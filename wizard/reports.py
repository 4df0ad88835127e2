"""The words of every result, produced once: the CLI prints them, the wizard shows them.

Plans, apply outcomes and verify proofs each have one text form here (symbols, counts,
one-line details), so a plan printed by `borgkeep plan` and one shown on the review
screen say the same thing.
"""

from __future__ import annotations

from datetime import datetime

from wizard.pipeline.apply import ApplyResult
from wizard.pipeline.desired.items import PHASE_NAMES
from wizard.pipeline.plan import Change, Plan, plan_warnings
from wizard.pipeline.status import ClientStatus, StatusReport
from wizard.pipeline.verify import VerifyReport
from wizard.safe_text import safe_text

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


def render_plan_text(plan: Plan) -> str:
    """The human form of a plan, as `borgkeep plan` prints it."""
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
            out.append(change.diff.rstrip("\n"))
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


def secrets_lines(result: ApplyResult, store_location: str) -> list[str]:
    lines = [f"secrets (repository passphrases and exported keys) are stored in {store_location}"]
    for client, name in result.exported_keys.items():
        lines.append(
            f"  the repository key of {client} was exported to the secrets store as {name!r}"
        )
    return lines


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


def guard_summary(client: ClientStatus) -> str:
    result = (client.guard or {}).get("last_result") or {}
    if not client.guard:
        return "-"
    return result.get("status", "ok") + (f" {result['time'][:16]}" if result.get("time") else "")


def status_rows(report: StatusReport, now: datetime) -> list[tuple[str, ...]]:
    """(mark, client, state, last backup, archives, size, quota, guard), problems first."""
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
                f"{human_size(used)} of {human_size(limit)}" if limit else human_size(used),
                guard_summary(client),
            )
        )
    return rows


def render_status_text(report: StatusReport, now: datetime) -> str:
    """`borgkeep status`: one row per client (problems first), their problems, the disk."""
    header = ("", "client", "state", "last backup", "archives", "size", "repository", "guard")
    rows = [header, *status_rows(report, now)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for client in report.by_urgency():
        for problem in client.problems:
            lines.append(f"{client.name}: {safe_text(problem, False)}")
    server = report.server
    if "free" in server:
        low = "  LOW" if server.get("low_space") else ""
        lines.append(
            f"server {server.get('name') or ''}: {human_size(server['free'])} free of "
            f"{human_size(server['total'])} at {server['repo_root']}{low}"
        )
    verdict = "all clients ok" if report.ok else f"{len(report.attention)} client(s) need attention"
    lines.append(verdict)
    return "\n".join(lines) + "\n"
