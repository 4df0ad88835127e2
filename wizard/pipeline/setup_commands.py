"""The executor's set-up commands: a client's key, the server's borg account, a client's
repository (its key exported into the operator's store) and the guard's baseline of it.

Consecutive baselines on the server run as one guard process (`init C1 C2 ...`): one
Python start-up for all of them, each client's outcome still its own reported step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wizard.artefacts.guard_program import (
    guard_command,
    guard_init_command,
    guard_init_failures,
)
from wizard.pipeline.apply_outcome import ApplyStepError
from wizard.pipeline.command_run import CommandContext, HostRun
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan_change import Change
from wizard.remote import scripts
from wizard.remote.step_timeouts import BORG, step_failure
from wizard.secrets_store import repokey_name

GUARD_INIT = "init-guard"


def generate_key(context: CommandContext) -> None:
    """A new ed25519 key on the client, as its login; its public half is kept for the
    server's authorized_keys (written later in the same apply)."""
    args = context.args
    script = scripts.generate_key_script(args["path"], args["comment"])
    result = context.run(HostRun(context.identity.login, script))
    public = result.stdout.decode().strip()
    parts = public.split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise ApplyStepError(context.host, "generate-key", f"unexpected key {public!r}")
    context.outputs.key_generated(context.host, " ".join(parts[:2]))


def create_user(context: CommandContext) -> None:
    """The server's borg account, as root."""
    args = context.args
    script = scripts.create_user_script(args["user"], args["home"])
    context.run(HostRun(context.identity.admin, script))


def init_repo(context: CommandContext) -> None:
    """`borg init` on the client, as its login; then the repository key, read from the new
    repository's own config on the server (as the borg user: no second borg run and SSH
    handshake on the client), goes into the operator's store."""
    args = context.args
    script = scripts.init_repo_script(
        args["url"],
        args["key"],
        args["known_hosts"],
        args["passphrase_file"],
        args.get("borg", "borg"),
    )
    context.run(HostRun(context.identity.login, script, kind=BORG))
    borg_user = context.identities[context.server].as_user(args["borg_user"])
    read = scripts.read_repository_config_script(args["repository"])
    config = context.run(HostRun(borg_user, read), on=context.server)
    exported = scripts.exported_key(config.stdout.decode("utf-8", "replace"), args["repository"])
    name = repokey_name(context.server, context.host)
    context.store.set(name, exported)
    context.outputs.key_exported(context.host, name)


def init_guard(context: CommandContext) -> None:
    """The guard's baseline of one client's new repository, as the guard's account."""
    args = context.args
    init = guard_command(args["python"], args["guard"], "init", args["client"])
    context.run(HostRun(context.identity.as_user(args["user"]), init, kind=BORG))


def one_guard_run(changes: Sequence[Change]) -> bool:
    """Whether these baselines can be one `init C1 C2 ...` run: two or more, sharing the
    guard, its Python and its account."""
    shared = {(c.args["python"], c.args["guard"], c.args["user"]) for c in changes}
    return len(changes) >= 2 and len(shared) == 1


def run_baselines(
    connection: Any, identity: HostIdentity, changes: Sequence[Change]
) -> dict[str, str]:
    """Run `one_guard_run` baselines as one guard process; the clients whose baseline was
    not recorded, with why. Exit code 0 means every one was; otherwise a client is done when
    its outcome line is on stdout. The guard records each client under that client's lock."""
    first = changes[0].args
    clients = [change.args["client"] for change in changes]
    run_as = identity.as_user(first["user"])
    command = guard_init_command(first["python"], first["guard"], clients)
    try:
        result = connection.run(run_as.wrap(command), kind=BORG)
        out, err = (part.decode("utf-8", "replace") for part in (result.stdout, result.stderr))
        every = result.rc == 0
    except Exception as exc:  # transport failures and the like, reported per client
        out, err, every = "", step_failure(exc), False
    return guard_init_failures(clients, out, err, every)
