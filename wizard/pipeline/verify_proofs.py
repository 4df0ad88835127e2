"""Verify's decisions: what each probe is, and what its answer proves, as functions of a
gather's snapshot (`wizard.pipeline.snapshot`) and the readings the probes made. Nothing
here connects anywhere: `wizard.pipeline.verify` runs the probes and hands the answers in.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Protocol

from wizard.artefacts.authorized_keys import authorized_keys_line, parse_authorized_keys_block
from wizard.artefacts.authorized_keys_audit import audit_authorized_keys
from wizard.artefacts.borgmatic_versions import validate_config_command
from wizard.artefacts.client_ssh import client_ssh_argv
from wizard.artefacts.guard_program import fleet_command, guard_program_path
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON
from wizard.pipeline.facts import client_layout, server_layout
from wizard.pipeline.plan import Plan
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.remote import borg_rpc
from wizard.remote.grouped import parse_grouped

SHELL_PROBE = "borgkeep-shell-probe"
PROBE_COMMAND = ["echo", "serve", "--debug-topic=borgkeep-shell''-probe"]
"""What the probe asks the server to run through a client's key. A shell prints the marker
(its quotes removed); a forced `borg serve` reads it as the client's `borg serve` with a
harmless debug topic (borg accepts that option from a client) and serves the RPC request;
borg's own diagnostics quote the command as sent, with the quotes, never the marker."""
SSH_FAILED = 255
CLIENT_PROBE_COUNT = 2
"""How many commands `client_proof_commands` gives (one remote process runs them)."""
GUARD_PREFIX = "borgkeep-guard"


class Reading(Protocol):
    """One remote command's answer (a `CommandResult`, or one of a grouped run's)."""

    rc: int
    stdout: bytes
    stderr: bytes


@dataclass
class Proof:
    host: str
    name: str
    ok: bool
    detail: str = ""


@dataclass
class VerifyReport:
    proofs: list[Proof] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.proofs) and all(p.ok for p in self.proofs)


def _tail(data: bytes, limit: int = 300) -> str:
    """The last meaningful line of a command's output, for a one-line proof detail."""
    lines = result_lines(data)
    return lines[-1][-limit:] if lines else ""


def result_lines(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


# --- a client's probes --------------------------------------------------------------------


def client_proof_commands(snapshot: FleetSnapshot, client_name: str) -> list[str]:
    """The client's two probes, run side by side on it as its login: its config validates
    with its own borgmatic; a shell command through its key and pinned host key, fed Borg
    RPC requests to open another repository, then its own (`wizard.remote.borg_rpc`):
    without a forced command the shell command runs, with one `borg serve` answers both.
    No borg client starts: that the client's passphrase opens its repository is proved on
    the server (`passphrase_proof`)."""
    facts = snapshot.facts[client_name]
    settings = snapshot.settings
    spaths = server_layout(snapshot.server_facts, settings)
    paths = client_layout(facts, client_name)
    validate = validate_config_command(
        borgmatic_version=facts.borgmatic_version,
        borgmatic_path=facts.borgmatic_path,
        config_path=paths.config,
    )
    ssh = [
        *client_ssh_argv(paths.key, paths.known_hosts),
        "-p",
        str(settings.address_port),
        f"{settings.borg_user}@{settings.address_host}",
        *PROBE_COMMAND,
    ]
    own = spaths.repository(client_name)
    request = borg_rpc.probe_request(other_repository(snapshot, client_name), own)
    return [shlex.join(validate), f"{borg_rpc.printf_command(request)} | {shlex.join(ssh)}"]


def other_repository(snapshot: FleetSnapshot, client_name: str) -> str:
    """A repository path beside the client's own, which its key must not open."""
    spaths = server_layout(snapshot.server_facts, snapshot.settings)
    return spaths.repository(f"{client_name}-borgkeep-probe")


def client_proofs(snapshot: FleetSnapshot, client_name: str, answer: Reading) -> list[Proof]:
    """What the client's grouped probes (`client_proof_commands`, one remote process)
    prove, and whether the server's managed line for it is the one the plan writes."""
    results = parse_grouped(answer.stdout, CLIENT_PROBE_COUNT)
    if None in results:
        detail = _tail(answer.stderr) or f"exit code {answer.rc}"
        return [Proof(client_name, "the client's probes could run", False, detail)]
    validated, shell = results
    proofs = [
        Proof(
            client_name,
            "config validates with its own borgmatic",
            validated.rc == 0,
            _tail(validated.stderr or validated.stdout),
        )
    ]
    authenticated = shell.rc != SSH_FAILED and b"Permission denied" not in shell.stderr
    shell_ran = SHELL_PROBE.encode() in shell.stdout
    if not authenticated:
        detail = f"the server did not accept the key: {_tail(shell.stderr, 160)}"
    else:
        detail = "a shell command ran through the key" if shell_ran else "only borg serve runs"
    proofs.append(
        Proof(client_name, "its key gets no shell", authenticated and not shell_ran, detail)
    )
    other = other_repository(snapshot, client_name)
    refused = authenticated and borg_rpc.refused_open(shell.stdout, other)
    if refused:
        detail = f"borg serve refused to open {other} (PathNotAllowed)"
    elif not authenticated:
        detail = "the server did not accept the key"
    else:
        detail = f"borg serve did not refuse to open {other}: {_tail(shell.stdout, 160)!r}"
    proofs.append(Proof(client_name, "its key cannot reach another repository", refused, detail))
    proofs.append(own_repository_proof(snapshot, client_name, shell, authenticated))
    return [*proofs, forced_command_proof(snapshot, client_name)]


OWN_REPOSITORY = "its key opens its own repository through the pinned host key"


def own_repository_proof(
    snapshot: FleetSnapshot, client_name: str, probe: Reading, authenticated: bool
) -> Proof:
    """The probe's second request: `borg serve`, reached through the client's key and its
    pin of the server's host key, opened the client's own repository (so it exists there)."""
    own = server_layout(snapshot.server_facts, snapshot.settings).repository(client_name)
    ok = authenticated and borg_rpc.opened(probe.stdout)
    if ok:
        detail = f"borg serve opened {own}"
    elif not authenticated:
        detail = "the server did not accept the key"
    else:
        said = borg_rpc.exception_class(probe.stdout, borg_rpc.OWN_ID)
        detail = f"borg serve did not open {own}: {said or _tail(probe.stderr or probe.stdout)}"
    return Proof(client_name, OWN_REPOSITORY, ok, detail)


PASSPHRASE = "its passphrase opens its repository"


def passphrase_proof(
    snapshot: FleetSnapshot, client_name: str, guard: Proof, plan: Plan | Exception
) -> Proof:
    """The client's passphrase opens its repository, proved without a borg client on it:
    the guard's check listed the repository with the server's copy of the passphrase
    (`guard`), and both the client's passphrase file and that copy are, byte for byte,
    what `plan` writes from the one passphrase (no change planned for either)."""
    spaths = server_layout(snapshot.server_facts, snapshot.settings)
    copies = {
        (client_name, client_layout(snapshot.facts[client_name], client_name).passphrase),
        (snapshot.server_name, spaths.passphrase(client_name)),
    }
    if isinstance(plan, Exception):
        return Proof(client_name, PASSPHRASE, False, "no plan to compare its passphrase files")
    differ = sorted(
        f"{change.host}:{change.path}"
        for host in {host for host, _ in copies}
        for change in plan.for_host(host)
        if (change.host, change.path) in copies
    )
    if differ:
        detail = "passphrase file(s) not as planned: " + ", ".join(differ)
    elif not guard.ok:
        detail = f"the guard's check did not open it with the server's copy: {guard.detail}"
    else:
        detail = "the server's identical copy opened it (the guard's check)"
    return Proof(client_name, PASSPHRASE, guard.ok and not differ, detail)


def passphrase_proofs(
    snapshot: FleetSnapshot, clients: list[str], guard_side: list[Proof], plan: Plan | Exception
) -> list[Proof]:
    """`passphrase_proof` for every client, from the server's proofs (`guard_proofs`, or
    the one failure that stopped the guard's checks). Without the server's facts none holds."""
    if snapshot.server_name not in snapshot.facts:
        return [Proof(c, PASSPHRASE, False, "the server's files are not known") for c in clients]
    by_name = {proof.name: proof for proof in guard_side}
    stopped = next(
        (proof for proof in guard_side if not proof.ok),
        Proof(snapshot.server_name, "the guard's checks could run", False, "no answer"),
    )
    return [
        passphrase_proof(snapshot, client, by_name.get(guard_check_name(client), stopped), plan)
        for client in clients
    ]


def forced_command_proof(snapshot: FleetSnapshot, client_name: str) -> Proof:
    """The managed block's line for the client is exactly the one the plan would write."""
    server_facts = snapshot.server_facts
    spaths = server_layout(server_facts, snapshot.settings)
    line = parse_authorized_keys_block(server_facts.file(spaths.authorized_keys).text).get(
        client_name
    )
    public = snapshot.facts[client_name].client_public_key
    repo = spaths.repository(client_name)
    expected = (
        authorized_keys_line(
            client_name,
            public,
            repo,
            server_facts.borg_path or "",
            snapshot.inventory.client(client_name).quota,
        )
        if public
        else None
    )
    forced = bool(line and line == expected)
    return Proof(
        snapshot.server_name,
        f"authorized_keys forces --append-only for {client_name}",
        forced,
        f"forced command pins it to {repo} in append-only mode"
        if forced
        else (line or "no line for this client in the managed block"),
    )


# --- the server's ------------------------------------------------------------------------


def guard_check_command(snapshot: FleetSnapshot, clients: list[str]) -> str:
    """The guard's read-only `check-all` of `clients`, as the borg user on the server."""
    server_facts, settings = snapshot.server_facts, snapshot.settings
    spaths = server_layout(server_facts, settings)
    python = server_facts.python_path or FALLBACK_PYTHON
    command = fleet_command(python, guard_program_path(spaths.state_dir), "check-all", *clients)
    borg = snapshot.identities[snapshot.server_name].as_user(settings.borg_user)
    return borg.wrap(command)


def guard_proofs(snapshot: FleetSnapshot, clients: list[str], answer: Reading) -> list[Proof]:
    """One proof per client from the guard's `check-all` answer: it said the client is fine
    (on stdout) and raised no problem about it (on stderr)."""
    lines = {
        stream: result_lines(data)
        for stream, data in (("ok", answer.stdout), ("problem", answer.stderr))
    }
    proofs = []
    for client in clients:
        prefix = f"{GUARD_PREFIX}: {client}: "
        said = {
            stream: [line.removeprefix(prefix) for line in found if line.startswith(prefix)]
            for stream, found in lines.items()
        }
        ok = bool(said["ok"]) and not said["problem"]
        detail = (said["problem"] or said["ok"] or [_guard_silence(answer)])[-1]
        detail = detail if len(detail) <= 400 else detail[:397] + "..."
        proofs.append(Proof(snapshot.server_name, guard_check_name(client), ok, detail))
    return proofs


def guard_check_name(client: str) -> str:
    return f"the guard's check for {client}"


def _guard_silence(answer: Reading) -> str:
    last = _tail(answer.stderr) or _tail(answer.stdout)
    return f"the guard said nothing about it (exit code {answer.rc}{': ' + last if last else ''})"


def authorized_keys_proof(snapshot: FleetSnapshot, clients: list[str]) -> Proof:
    """No line outside the block carries a managed key or serves borg without append-only."""
    server_facts = snapshot.server_facts
    spaths = server_layout(server_facts, snapshot.settings)
    text = server_facts.file(spaths.authorized_keys).text
    managed = {
        key.split()[1]: name
        for name in clients
        if (key := snapshot.facts[name].client_public_key) and len(key.split()) > 1
    }
    problems = audit_authorized_keys(text, managed)
    return Proof(
        snapshot.server_name,
        "authorized_keys has no line that undoes the pins",
        not problems,
        "; ".join(problems) if problems else "every client key is only on its pinned line",
    )


def drift_proofs(snapshot: FleetSnapshot, plan: Plan | Exception) -> list[Proof]:
    """One proof per host: every managed file, directory and crontab is what `plan` (the
    plan made from the same facts) would write. A host edited by hand since the apply, or
    never configured, fails here, naming the files; a plan that could not be made (given
    as the exception that stopped it) fails as one proof."""
    if isinstance(plan, Exception):  # the plan itself refusing (hostile key, ...)
        return [Proof(snapshot.server_name, "the plan can be computed", False, str(plan))]
    proofs = []
    for host in plan.hosts:
        if host in snapshot.left_out:
            continue
        changes = plan.for_host(host)
        detail = (
            "drift: " + "; ".join(change.title for change in changes)
            if changes
            else "every managed file is as borgkeep wrote it"
        )
        proofs.append(Proof(host, "no drift from the plan", not changes, detail))
    return proofs
