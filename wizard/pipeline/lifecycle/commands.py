"""The executor's lifecycle commands: for each, who runs which script and how long it may
stay silent.

Each builder takes the change's already validated `args`, the host's `HostIdentity` and a
way to read the operator's secrets store, and returns the `HostRun` (a ValueError fails the
step with its message). `reported` runs it: what the script prints on stdout becomes the
apply result's notes (the proofs of a key rotation, a rollback's copy, the restored path).
"""

from __future__ import annotations

from collections.abc import Callable

from wizard.artefacts.guard_program import guard_command
from wizard.hostside.guard_text import MESSAGE_PREFIX
from wizard.pipeline.apply_outcome import ApplyStepError
from wizard.pipeline.command_run import Command, CommandContext, HostRun
from wizard.pipeline.identity import HostIdentity
from wizard.remote import lifecycle_scripts
from wizard.remote.step_timeouts import BORG, DATA, QUICK

Secret = Callable[[str], "str | None"]
Build = Callable[[dict, HostIdentity, Secret], HostRun]


def reported(build: Build) -> Command:
    """The command that runs what `build` makes and keeps its stdout's lines as notes."""

    def command(context: CommandContext) -> None:
        try:
            step = build(context.args, context.identity, context.store.get)
        except ValueError as exc:
            raise ApplyStepError(context.host, context.change.title, str(exc)) from None
        result = context.run(step)
        lines = result.stdout.decode("utf-8", "replace").splitlines()
        notes = [line.removeprefix(f"{MESSAGE_PREFIX}: ") for line in lines if line.strip()]
        context.outputs.note(context.host, notes)

    command.__doc__ = build.__doc__
    return command


@reported
def delete_repository(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
    """The passphrase from the server's file, else from the secrets store on stdin."""
    stdin = None
    if args.get("stored_passphrase"):
        value = secret(args["stored_passphrase"])
        if not value:
            raise ValueError(f"{args['stored_passphrase']} is not in the secrets store any more")
        stdin = (value.strip() + "\n").encode()
    script = lifecycle_scripts.delete_repository_script(
        args["repository"], None if stdin else args["passphrase_file"], args["borg"]
    )
    return HostRun(identity.as_user(args["user"]), script, stdin, DATA)


def guard_action(action: str, kind: str) -> Command:
    """The guard's `action` on the change's client (a rollback's transaction too)."""

    def build(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
        extra = [str(args["transaction"])] if "transaction" in args else []
        line = guard_command(args["python"], args["guard"], action, args["client"], *extra)
        return HostRun(identity.as_user(args["user"]), line, kind=kind)

    return reported(build)


@reported
def switch_key(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
    script = lifecycle_scripts.switch_key_script(
        args["old_key"],
        args["new_key"],
        args["known_hosts"],
        args["passphrase_file"],
        args["url"],
        args["server"],
        int(args["port"]),
        args["borg_user"],
    )
    return HostRun(identity.login, script, kind=BORG)


@reported
def forget_cache(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
    script = lifecycle_scripts.forget_cache_script(
        args["repository_id"],
        args["url"],
        args["key"],
        args["known_hosts"],
        args["passphrase_file"],
    )
    return HostRun(identity.login, script, kind=BORG)


@reported
def restore(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
    script = lifecycle_scripts.restore_script(
        args["url"],
        args["archive"],
        args["path"],
        args["destination"],
        bool(args["fresh"]),
        args["key"],
        args["known_hosts"],
        args["passphrase_file"],
    )
    return HostRun(identity.login, script, kind=DATA)


@reported
def retire_config(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
    script = lifecycle_scripts.retire_config_script(args["path"], args["to"])
    return HostRun(identity.login, script, kind=QUICK)


@reported
def edit_config(args: dict, identity: HostIdentity, secret: Secret) -> HostRun:
    """A file's lines edited in place (a config's repository, crontab lines retired)."""
    script = lifecycle_scripts.edit_config_script(
        args["path"], args["to"], args["before"], args["after"], list(args["lines"]), args["tmpdir"]
    )
    return HostRun(identity.login, script, kind=QUICK)
