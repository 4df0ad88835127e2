"""Post-apply proofs, read-only: safe to run any time on a production fleet.

Per client: its config validates with its own borgmatic; `borg info` through its own key
and pinned host key works; the key gets no shell and no other repository; the server
forces `--append-only` for it. Per client on the server: the prune config runs with
`--dry-run` and considers only that client's archives.
"""

from __future__ import annotations

import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wizard.artefacts.authorized_keys import authorized_keys_line, parse_authorized_keys_block
from wizard.artefacts.borgmatic_client import archive_prefix
from wizard.artefacts.borgmatic_versions import validate_config_command
from wizard.artefacts.client_ssh import client_ssh_argv
from wizard.inventory.settings import repository_url
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
    skipped: dict[str, str] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.proofs) and not self.skipped


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
    result = conn.run(f"{env} borg info {shlex.quote(url)}")
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
    result = conn.run(f"{env} borg info {shlex.quote(repository_url(settings, other))}")
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
    forced = bool(public and line == authorized_keys_line(client_name, public, repo))
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


PRUNE_LISTING = re.compile(
    r"(?:Keeping archive(?: \(rule: [^)]*\))?|Would prune|Pruning archive(?: \(\d+/\d+\))?):"
    r"\s+(\S+)"
)


def archives_in_prune_output(output: str) -> list[str]:
    """Archive names in `borg prune --list` output (kept and pruned alike)."""
    return PRUNE_LISTING.findall(output)


def verify_server_prune(session, client_name: str) -> Proof:
    server_facts = session.facts[session.server_name]
    settings = session.settings
    conn = session.connections[session.server_name]
    spaths = server_layout(server_facts, settings)
    command = (
        f"{shlex.quote(server_facts.borgmatic_path)} -c "
        f"{shlex.quote(spaths.prune_config(client_name))} prune --dry-run --list"
    )
    borg = session.identities[session.server_name].as_user(settings.borg_user)
    result = conn.run(borg.wrap(command))
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    archives = archives_in_prune_output(output)
    foreign = [a for a in archives if not a.startswith(archive_prefix(client_name))]
    ok = result.rc == 0 and not foreign
    detail = (
        f"{len(archives)} archive(s) considered, all {client_name}'s"
        if ok
        else (f"other clients' archives considered: {foreign}" if foreign else _tail(result.stderr))
    )
    return Proof(session.server_name, f"prune --dry-run for {client_name}", ok, detail)


def verify_fleet(session) -> VerifyReport:
    """Run every proof on the facts `session` (a `FleetSession`) holds; hosts in parallel."""
    report = VerifyReport()
    left_out = session.left_out
    clients = [
        c.name
        for c in session.inventory.clients
        if c.name in session.facts and c.name not in left_out
    ]
    for name, reason in session.errors.items():
        report.skipped[name] = reason
    report.left_out = sorted(left_out)

    def one(name: str) -> list[Proof]:
        try:
            return [*verify_client(session, name), verify_server_prune(session, name)]
        except Exception as exc:  # a proof that cannot run is a failed proof
            return [Proof(name, "verification could run", False, str(exc))]

    with ThreadPoolExecutor(max_workers=session.max_parallel) as pool:
        for proofs in pool.map(one, clients):
            report.proofs.extend(proofs)
    return report
