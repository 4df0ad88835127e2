"""Post-apply proofs, read-only: safe to run any time on a production fleet.

Per client: its config validates with its own borgmatic; `borg info` through its own key
and pinned host key works; the key gets no shell and no other repository; the server
forces `--append-only` (with the server's borg and the client's quota) for it. Per client
on the server: the guard's read-only `check` passes (baseline recorded, nothing vanished
or forged, its last run did not refuse, borgmatic's prune dry run removes nothing the
policy keeps). For the server: no line of authorized_keys outside the block undoes a pin.
For every host: no drift — each managed file is what the plan would write. A host that
cannot be reached is a failed proof.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wizard.artefacts.authorized_keys import authorized_keys_line, parse_authorized_keys_block
from wizard.artefacts.authorized_keys_audit import audit_authorized_keys
from wizard.artefacts.borgmatic_versions import validate_config_command
from wizard.artefacts.client_ssh import client_ssh_argv
from wizard.artefacts.guard_program import guard_command, guard_program_path
from wizard.inventory.settings import repository_url
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON
from wizard.pipeline.facts import client_layout, server_layout
from wizard.remote import scripts

SHELL_PROBE = "borgkeep-shell-probe"
SSH_FAILED = 255


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


def verify_client(session, client_name: str) -> list[Proof]:
    facts = session.facts[client_name]
    settings = session.settings
    conn = session.connections[client_name]
    server_facts = session.facts[session.server_name]
    spaths = server_layout(server_facts, settings)
    paths = client_layout(facts, client_name)
    proofs: list[Proof] = []

    argv = validate_config_command(
        borgmatic_version=facts.borgmatic_version,
        borgmatic_path=facts.borgmatic_path,
        config_path=paths.config,
    )
    result = conn.run(shlex.join(argv))
    proofs.append(
        Proof(
            client_name,
            "config validates with its own borgmatic",
            result.rc == 0,
            _tail(result.stderr or result.stdout),
        )
    )

    url = repository_url(settings, spaths.repository(client_name))
    env = scripts.borg_env(paths.key, paths.known_hosts, paths.passphrase)
    borg = shlex.quote(facts.borg_path or "borg")
    result = conn.run(f"{env} {borg} info {shlex.quote(url)}")
    proofs.append(
        Proof(
            client_name,
            "borg info through its own key and pinned host key",
            result.rc == 0,
            _tail(result.stderr) if result.rc else "repository reachable, passphrase right",
        )
    )

    ssh = [
        *client_ssh_argv(paths.key, paths.known_hosts),
        "-p",
        str(settings.address_port),
        f"{settings.borg_user}@{settings.address_host}",
        "echo",
        SHELL_PROBE,
    ]
    result = conn.run(f"{shlex.join(ssh)} </dev/null")
    authenticated = result.rc != SSH_FAILED and b"Permission denied" not in result.stderr
    shell_ran = SHELL_PROBE.encode() in result.stdout
    if not authenticated:
        detail = f"the server did not accept the key: {_tail(result.stderr, 160)}"
    else:
        detail = "a shell command ran through the key" if shell_ran else "only borg serve runs"
    proofs.append(
        Proof(client_name, "its key gets no shell", authenticated and not shell_ran, detail)
    )

    other = spaths.repository(f"{client_name}-borgkeep-probe")
    result = conn.run(f"{env} {borg} info {shlex.quote(repository_url(settings, other))}")
    refused = result.rc != 0 and b"not allowed" in result.stderr
    proofs.append(
        Proof(
            client_name,
            "its key cannot reach another repository",
            refused,
            _tail(result.stderr, 160) if result.rc != 0 else "another repository path was accepted",
        )
    )

    line = parse_authorized_keys_block(server_facts.file(spaths.authorized_keys).text).get(
        client_name
    )
    public = facts.client_public_key
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
    proofs.append(
        Proof(
            session.server_name,
            f"authorized_keys forces --append-only for {client_name}",
            forced,
            f"forced command pins it to {repo} in append-only mode"
            if forced
            else (line or "no line for this client in the managed block"),
        )
    )
    return proofs


def verify_guard(session, client_name: str) -> Proof:
    """The guard's own read-only `check`: the baseline exists, nothing vanished or was
    forged since, and borgmatic's prune dry run removes nothing the policy keeps."""
    server_facts = session.facts[session.server_name]
    settings = session.settings
    conn = session.connections[session.server_name]
    spaths = server_layout(server_facts, settings)
    python = server_facts.python_path or FALLBACK_PYTHON
    command = guard_command(python, guard_program_path(spaths.state_dir), "check", client_name)
    borg = session.identities[session.server_name].as_user(settings.borg_user)
    result = conn.run(borg.wrap(command))
    lines = (result.stdout if result.rc == 0 else result.stderr or result.stdout).splitlines()
    last = next((ln for ln in reversed(lines) if ln.strip()), b"").decode("utf-8", "replace")
    detail = last.strip().removeprefix(f"borgkeep-guard: {client_name}: ")
    detail = detail if len(detail) <= 400 else detail[:397] + "..."
    return Proof(
        session.server_name, f"the guard's check for {client_name}", result.rc == 0, detail
    )


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


def verify_fleet(session) -> VerifyReport:
    """Run every proof on the facts `session` (a `FleetSession`) holds; hosts in parallel.
    An unreachable host is a failed proof, never a skipped one."""
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
        try:
            return [*verify_client(session, name), verify_guard(session, name)]
        except Exception as exc:  # a proof that cannot run is a failed proof
            return [Proof(name, "verification could run", False, str(exc))]

    with ThreadPoolExecutor(max_workers=session.max_parallel) as pool:
        for proofs in pool.map(one, clients):
            report.proofs.extend(proofs)
    if session.server_name in session.facts:
        report.proofs.append(verify_authorized_keys(session, clients))
        report.proofs.extend(verify_drift(session))
    return report
