"""Post-apply proofs, read-only: safe to run any time on a production fleet.

Per client: its config validates with its own borgmatic; `borg info` through its own key
and pinned host key works; the key gets no shell and no other repository; the server
forces `--append-only` (with the server's borg and the client's quota) for it. Per client
on the server: the guard's read-only `check` passes (baseline recorded, nothing vanished
or forged, its last run did not refuse, borgmatic's prune dry run removes nothing the
policy keeps). For the server: no line of authorized_keys outside the block undoes a pin.
For every host: no drift — each managed file is what the plan would write. A host that
cannot be reached is a failed proof.

Cost: a client's three probes run side by side in one remote process (`wizard.remote.grouped`,
each keeping its own exit code and output); the shell probe and the other-repository probe
are one SSH session (a Borg RPC request on its stdin, so no borg starts on the client); the
server checks every client's guard in one `check-all` pass (a few joint borgmatic dry runs,
not one per client), beside the clients' probes; the facts are gathered once; the borg runs
that only read skip borg's start-up self-test.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wizard.artefacts.authorized_keys import authorized_keys_line, parse_authorized_keys_block
from wizard.artefacts.authorized_keys_audit import audit_authorized_keys
from wizard.artefacts.borgmatic_versions import validate_config_command
from wizard.artefacts.client_ssh import client_ssh_argv
from wizard.artefacts.guard_program import fleet_command, guard_program_path
from wizard.inventory.settings import repository_url
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON
from wizard.pipeline.facts import client_layout, server_layout
from wizard.remote import borg_rpc, scripts
from wizard.remote.grouped import grouped_script, parse_grouped
from wizard.remote.step_timeouts import BORG, step_failure

SHELL_PROBE = "borgkeep-shell-probe"
PROBE_COMMAND = ["echo", "serve", "--debug-topic=borgkeep-shell''-probe"]
"""What the probe asks the server to run through a client's key. A shell prints the marker
(its quotes removed); a forced `borg serve` reads it as the client's `borg serve` with a
harmless debug topic (borg accepts that option from a client) and serves the RPC request;
borg's own diagnostics quote the command as sent, with the quotes, never the marker."""
SSH_FAILED = 255
GUARD_PREFIX = "borgkeep-guard"
CLIENT_PROBES = "config validation, borg info and the shell probe through the client's key"
GUARD_CHECKS = "the guard's check of every client"


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
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][-limit:] if lines else ""


def client_proof_commands(session, client_name: str) -> list[str]:
    """The client's three probes, run side by side on it as its login: its config validates
    with its own borgmatic; `borg info` through its key; a shell command through its key,
    fed a Borg RPC request to open another repository (`wizard.remote.borg_rpc`): without
    a forced command the shell command runs, with one `borg serve` answers the request."""
    facts = session.facts[client_name]
    settings = session.settings
    spaths = server_layout(session.facts[session.server_name], settings)
    paths = client_layout(facts, client_name)
    validate = validate_config_command(
        borgmatic_version=facts.borgmatic_version,
        borgmatic_path=facts.borgmatic_path,
        config_path=paths.config,
    )
    url = repository_url(settings, spaths.repository(client_name))
    env = scripts.borg_env(paths.key, paths.known_hosts, paths.passphrase)
    borg = shlex.quote(facts.borg_path or "borg")
    ssh = [
        *client_ssh_argv(paths.key, paths.known_hosts),
        "-p",
        str(settings.address_port),
        f"{settings.borg_user}@{settings.address_host}",
        *PROBE_COMMAND,
    ]
    request = borg_rpc.open_request(other_repository(session, client_name))
    return [
        shlex.join(validate),
        f"BORG_SELFTEST=disabled {env} {borg} info {shlex.quote(url)}",  # only reads
        f"{borg_rpc.printf_command(request)} | {shlex.join(ssh)}",
    ]


def other_repository(session, client_name: str) -> str:
    """A repository path beside the client's own, which its key must not open."""
    spaths = server_layout(session.facts[session.server_name], session.settings)
    return spaths.repository(f"{client_name}-borgkeep-probe")


def verify_client(session, client_name: str) -> list[Proof]:
    conn = session.connections[client_name]
    commands = client_proof_commands(session, client_name)
    result = conn.run(grouped_script(commands), kind=BORG)
    results = parse_grouped(result.stdout, len(commands))
    if None in results:
        detail = _tail(result.stderr) or f"exit code {result.rc}"
        return [Proof(client_name, "the client's probes could run", False, detail)]
    validated, info, shell = results
    proofs = [
        Proof(
            client_name,
            "config validates with its own borgmatic",
            validated.rc == 0,
            _tail(validated.stderr or validated.stdout),
        ),
        Proof(
            client_name,
            "borg info through its own key and pinned host key",
            info.rc == 0,
            _tail(info.stderr) if info.rc else "repository reachable, passphrase right",
        ),
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
    other = other_repository(session, client_name)
    refused = authenticated and borg_rpc.refused_open(shell.stdout, other)
    if refused:
        detail = f"borg serve refused to open {other} (PathNotAllowed)"
    elif not authenticated:
        detail = "the server did not accept the key"
    else:
        detail = f"borg serve did not refuse to open {other}: {_tail(shell.stdout, 160)!r}"
    proofs.append(Proof(client_name, "its key cannot reach another repository", refused, detail))
    return [*proofs, verify_forced_command(session, client_name)]


def verify_forced_command(session, client_name: str) -> Proof:
    """The managed block's line for the client is exactly the one the plan would write."""
    server_facts = session.facts[session.server_name]
    spaths = server_layout(server_facts, session.settings)
    line = parse_authorized_keys_block(server_facts.file(spaths.authorized_keys).text).get(
        client_name
    )
    public = session.facts[client_name].client_public_key
    repo = spaths.repository(client_name)
    expected = (
        authorized_keys_line(
            client_name,
            public,
            repo,
            server_facts.borg_path or "",
            session.inventory.client(client_name).quota,
        )
        if public
        else None
    )
    forced = bool(line and line == expected)
    return Proof(
        session.server_name,
        f"authorized_keys forces --append-only for {client_name}",
        forced,
        f"forced command pins it to {repo} in append-only mode"
        if forced
        else (line or "no line for this client in the managed block"),
    )


def verify_guards(session, clients: list[str]) -> list[Proof]:
    """The guard's read-only check of every client in one pass on the server (`check-all`):
    the baseline exists, nothing vanished or was forged since, and borgmatic's prune dry run
    removes nothing the policy keeps. One proof per client."""
    if not clients:
        return []
    server_facts = session.facts[session.server_name]
    settings = session.settings
    conn = session.connections[session.server_name]
    spaths = server_layout(server_facts, settings)
    python = server_facts.python_path or FALLBACK_PYTHON
    command = fleet_command(python, guard_program_path(spaths.state_dir), "check-all", *clients)
    borg = session.identities[session.server_name].as_user(settings.borg_user)
    result = conn.run(borg.wrap(command), kind=BORG)
    lines = {
        stream: result_lines(data)
        for stream, data in (("ok", result.stdout), ("problem", result.stderr))
    }
    proofs = []
    for client in clients:
        prefix = f"{GUARD_PREFIX}: {client}: "
        said = {
            stream: [line.removeprefix(prefix) for line in found if line.startswith(prefix)]
            for stream, found in lines.items()
        }
        ok = bool(said["ok"]) and not said["problem"]
        detail = (said["problem"] or said["ok"] or [_guard_silence(result)])[-1]
        detail = detail if len(detail) <= 400 else detail[:397] + "..."
        proofs.append(Proof(session.server_name, f"the guard's check for {client}", ok, detail))
    return proofs


def result_lines(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _guard_silence(result) -> str:
    last = _tail(result.stderr) or _tail(result.stdout)
    return f"the guard said nothing about it (exit code {result.rc}{': ' + last if last else ''})"


def verify_authorized_keys(session, clients: list[str]) -> Proof:
    """No line outside the block carries a managed key or serves borg without append-only."""
    server_facts = session.facts[session.server_name]
    spaths = server_layout(server_facts, session.settings)
    text = server_facts.file(spaths.authorized_keys).text
    managed = {
        key.split()[1]: name
        for name in clients
        if (key := session.facts[name].client_public_key) and len(key.split()) > 1
    }
    problems = audit_authorized_keys(text, managed)
    return Proof(
        session.server_name,
        "authorized_keys has no line that undoes the pins",
        not problems,
        "; ".join(problems) if problems else "every client key is only on its pinned line",
    )


def verify_drift(session) -> list[Proof]:
    """One proof per host: every managed file, directory and crontab is what the plan would
    write. A host edited by hand since the apply, or never configured, fails here, naming
    the files."""
    try:
        plan = session.plan(leave_out=session.left_out)
    except Exception as exc:  # the plan itself refusing (hostile key, ...) is a failure
        return [Proof(session.server_name, "the plan can be computed", False, str(exc))]
    proofs = []
    for host in plan.hosts:
        if host in session.left_out:
            continue
        changes = plan.for_host(host)
        detail = (
            "drift: " + "; ".join(change.title for change in changes)
            if changes
            else "every managed file is as borgkeep wrote it"
        )
        proofs.append(Proof(host, "no drift from the plan", not changes, detail))
    return proofs


def step_failed(step: str, exc: Exception) -> str:
    """A proof's detail when its step could not run: what was running and why it stopped."""
    return f"verify: {step}: {step_failure(exc)}"


def verify_fleet(session) -> VerifyReport:
    """Run every proof on the facts `session` (a `FleetSession`) holds; hosts in parallel,
    each step reported through the session's `on_event` as it starts and ends. An
    unreachable host is a failed proof, never a skipped one."""
    event = session.on_event or (lambda host, level, message: None)

    def said(host: str, step: str, proofs: list[Proof]) -> list[Proof]:
        failed = [p for p in proofs if not p.ok]
        if failed:
            event(host, "error", f"{step}: {len(failed)} of {len(proofs)} proof(s) failed")
        else:
            event(host, "done", f"{step}: {len(proofs)} proof(s) passed")
        return proofs

    report = VerifyReport()
    left_out = session.left_out
    clients = [
        c.name
        for c in session.inventory.clients
        if c.name in session.facts and c.name not in left_out
    ]
    for name, reason in session.errors.items():
        report.proofs.append(Proof(name, "reachable over SSH", False, reason))
    report.left_out = sorted(left_out)

    def one(name: str) -> list[Proof]:
        event(name, "step", CLIENT_PROBES)
        try:
            proofs = verify_client(session, name)
        except Exception as exc:  # a proof that cannot run is a failed proof
            proofs = [Proof(name, "verification could run", False, step_failed(CLIENT_PROBES, exc))]
        return said(name, CLIENT_PROBES, proofs)

    def guards() -> list[Proof]:
        if not clients:
            return []
        server = session.server_name
        event(server, "step", GUARD_CHECKS)
        try:
            proofs = verify_guards(session, clients)
        except Exception as exc:
            proofs = [
                Proof(server, "the guard's checks could run", False, step_failed(GUARD_CHECKS, exc))
            ]
        return said(server, GUARD_CHECKS, proofs)

    with ThreadPoolExecutor(max_workers=session.max_parallel) as pool:
        server_side = pool.submit(guards)  # on the server, beside the clients' probes
        for proofs in pool.map(one, clients):
            report.proofs.extend(proofs)
        report.proofs.extend(server_side.result())
    if session.server_name in session.facts:
        report.proofs.append(verify_authorized_keys(session, clients))
        event(session.server_name, "step", "drift: every managed file planned again")
        for proof in verify_drift(session):
            event(proof.host, "done" if proof.ok else "error", f"drift: {proof.detail}")
            report.proofs.append(proof)
    return report
