"""Apply outcomes, first backups and verify proofs as text, for the CLI and the wizard."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from wizard.pipeline.apply import ApplyResult, ApplyStepError
from wizard.pipeline.facts import HostFacts, client_layout
from wizard.pipeline.first_backup import FirstBackup
from wizard.pipeline.verify import VerifyReport
from wizard.reports.marks import MARK_DONE, MARK_ERROR, MARK_SKIP
from wizard.safe_text import safe_text


def step_error_text(error: ApplyStepError) -> str:
    """Why a step failed, without the host and step its message starts with (the line
    that shows it names them already)."""
    return str(error).removeprefix(f"{error.host}: ").removeprefix(f"{error.step}: ")


def apply_result_lines(result: ApplyResult) -> list[str]:
    """One line per host: applied, skipped, or the step that failed and why."""
    lines = []
    for host, outcome in result.outcomes.items():
        if outcome.error:
            error = safe_text(step_error_text(outcome.error))
            lines.append(f"{MARK_ERROR} {host}: failed at {outcome.error.step}: {error}")
        elif outcome.skipped:
            lines.append(f"{MARK_SKIP} {host}: {len(outcome.skipped)} step(s) skipped")
        elif outcome.done:
            lines.append(f"{MARK_DONE} {host}: {len(outcome.done)} change(s) applied")
    return lines


def interrupted_lines(result: ApplyResult, finish: str) -> list[str]:
    """After an interrupted (cancelled) apply: what was done and what was skipped, host by
    host, and `finish`, the command that completes the job."""
    lines = ["Interrupted: the step in progress was finished, the rest skipped."]
    for host, outcome in result.outcomes.items():
        if outcome.done:
            done = "; ".join(safe_text(title, False) for title in outcome.done)
            lines.append(f"  {MARK_DONE} {host}: done: {done}")
        if outcome.error:
            error = safe_text(str(outcome.error).removeprefix(f"{host}: "), False)
            lines.append(f"  {MARK_ERROR} {host}: failed: {error}")
        if outcome.skipped:
            skipped = "; ".join(safe_text(title, False) for title in outcome.skipped)
            lines.append(f"  {MARK_SKIP} {host}: skipped: {skipped}")
        if not (outcome.done or outcome.error or outcome.skipped):
            lines.append(f"  {MARK_SKIP} {host}: nothing ran")
    lines.append(f"To finish: {finish}")
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
