"""The facts a lifecycle action needs beyond an apply's: read-only, each read by the account
that owns it, like `wizard.pipeline.gather`.

A private key is read as its hash only (its bytes never leave the client); the guard is
asked for its `inspect` report (as the borg user); a client lists its archives through its
own key for a restore.
"""

from __future__ import annotations

import shlex

from wizard.artefacts.guard_program import guard_command, guard_program_path, guard_state_path
from wizard.hostside.guard_status_cache import status_cache_file
from wizard.inventory.settings import ServerSettings, repository_url
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON
from wizard.pipeline.facts import HostFacts, client_layout, server_layout
from wizard.pipeline.gather import read_paths_script, run_reads
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.lifecycle.request import LifecycleRefused
from wizard.pipeline.lifecycle.rotate import rotating_key
from wizard.remote.scripts import borg_env


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "no output"


def read_more(
    conn,
    identity: HostIdentity,
    user: str,
    facts: HostFacts,
    files: list[str] = (),
    hashed: list[str] = (),
    exists: list[str] = (),
) -> HostFacts:
    """`facts` with more paths read as `user` (links and non-files become problems)."""
    script = read_paths_script(
        files=[(path, identity.base(path)) for path in files],
        hashed=[(path, identity.base(path)) for path in hashed],
        exists=list(exists),
    )
    run_as = identity.as_user(user)
    more, _ = run_reads(conn, run_as.wrap(script), run_as.user, facts)
    return more


def server_extras(
    conn, identity: HostIdentity, facts: HostFacts, settings: ServerSettings, client: str
) -> HostFacts:
    """The guard's state file of `client` and its status record (deleted when its
    repository is purged)."""
    spaths = server_layout(facts, settings)
    state = guard_state_path(spaths.state_dir, client)
    record = status_cache_file(spaths.state_dir, client)
    return read_more(conn, identity, settings.borg_user, facts, files=[state, record])


def client_extras(
    conn, identity: HostIdentity, facts: HostFacts, client: str, destination: str | None
) -> HostFacts:
    """The private keys' hashes (the current one, a rotation's leftover), the leftover's
    public half, and whether a restore's destination exists."""
    paths = client_layout(facts, client)
    new_key = rotating_key(facts, client)
    return read_more(
        conn,
        identity,
        facts.login_user,
        facts,
        files=[new_key + ".pub"],
        hashed=[paths.key, new_key],
        exists=[destination] if destination else [],
    )


def guard_inspect(conn, identity: HostIdentity, facts: HostFacts, settings, client: str) -> str:
    """The guard's `inspect CLIENT` JSON, run as the borg user (read-only)."""
    spaths = server_layout(facts, settings)
    python = facts.python_path or FALLBACK_PYTHON
    command = guard_command(python, guard_program_path(spaths.state_dir), "inspect", client)
    result = conn.run(identity.as_user(settings.borg_user).wrap(command))
    if result.rc != 0:
        raise LifecycleRefused(
            f"{settings.name}: the guard could not inspect {client} (exit {result.rc}): "
            f"{_last_line(result.stderr or result.stdout)}"
        )
    return result.stdout.decode("utf-8", "replace")


def client_listing(
    conn, facts: HostFacts, client: str, settings: ServerSettings, server_facts
) -> str:
    """`borg list --json` of the client's repository, through its own key (read-only)."""
    paths = client_layout(facts, client)
    url = repository_url(settings, server_layout(server_facts, settings).repository(client))
    env = borg_env(paths.key, paths.known_hosts, paths.passphrase)
    result = conn.run(f"{env} borg list --json {shlex.quote(url)} < /dev/null")
    if result.rc != 0:
        raise LifecycleRefused(
            f"{client}: cannot list its archives through its own key: {_last_line(result.stderr)}"
        )
    return result.stdout.decode("utf-8", "replace")


REPLAY = "newer than repository"
"""In both of Borg 1.x's refusals of a repository older than what a client saw last
(`Cache.RepositoryReplay`, from its security record or from its cache)."""


def client_refuses_repository(
    conn, facts: HostFacts, client: str, settings: ServerSettings, server_facts
) -> bool:
    """Whether `borg info` of the client's repository, through its own key, is refused as
    older than the client's security record or cache (a rollback's `forget-cache` did not
    run). Read-only; any other failure is not this one (False)."""
    paths = client_layout(facts, client)
    url = repository_url(settings, server_layout(server_facts, settings).repository(client))
    env = borg_env(paths.key, paths.known_hosts, paths.passphrase)
    result = conn.run(f"{env} borg info {shlex.quote(url)} < /dev/null")
    return result.rc != 0 and REPLAY in result.stderr.decode("utf-8", "replace")
