"""The executor's lifecycle commands: for each command name, who runs it and which script.

Each entry takes the change's already validated `args`, the host's `HostIdentity` and a
way to read the operator's secrets store, and returns (RunAs, script, stdin or None). What a script prints on stdout becomes the apply result's notes
(the proofs of a key rotation, a rollback's copy, the restored path).
"""

from __future__ import annotations

from collections.abc import Callable

from wizard.artefacts.guard_program import guard_command
from wizard.pipeline.identity import HostIdentity
from wizard.remote import lifecycle_scripts
from wizard.remote.identity import RunAs
from wizard.remote.step_timeouts import BORG, DATA

Secret = Callable[[str], "str | None"]
Command = Callable[[dict, HostIdentity, Secret], tuple[RunAs, str, "bytes | None"]]


def _delete_repository(args: dict, identity: HostIdentity, secret: Secret):
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
    return identity.as_user(args["user"]), script, stdin


def _guard(action: str) -> Command:
    def command(args: dict, identity: HostIdentity, secret: Secret):
        extra = [str(args["transaction"])] if "transaction" in args else []
        line = guard_command(args["python"], args["guard"], action, args["client"], *extra)
        return identity.as_user(args["user"]), line, None

    return command


def _switch_key(args: dict, identity: HostIdentity, secret: Secret):
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
    return identity.login, script, None


def _forget_cache(args: dict, identity: HostIdentity, secret: Secret):
    script = lifecycle_scripts.forget_cache_script(
        args["repository_id"],
        args["url"],
        args["key"],
        args["known_hosts"],
        args["passphrase_file"],
    )
    return identity.login, script, None


def _restore(args: dict, identity: HostIdentity, secret: Secret):
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
    return identity.login, script, None


def _retire_config(args: dict, identity: HostIdentity, secret: Secret):
    return identity.login, lifecycle_scripts.retire_config_script(args["path"], args["to"]), None


def _edit_config(args: dict, identity: HostIdentity, secret: Secret):
    script = lifecycle_scripts.edit_config_script(
        args["path"], args["to"], args["before"], args["after"], list(args["lines"]), args["tmpdir"]
    )
    return identity.login, script, None


LIFECYCLE_COMMANDS: dict[str, Command] = {
    "retire-config": _retire_config,
    "edit-config": _edit_config,
    "retire-cron-lines": _edit_config,
    "restore-repokey": _guard("restore-key"),
    "delete-repository": _delete_repository,
    "switch-key": _switch_key,
    "guard-rollback": _guard("rollback"),
    "guard-acknowledge": _guard("acknowledge"),
    "forget-cache": _forget_cache,
    "restore": _restore,
}

COMMAND_KINDS = {
    "delete-repository": DATA,
    "switch-key": BORG,
    "guard-rollback": BORG,
    "guard-acknowledge": BORG,
    "forget-cache": BORG,
    "restore": DATA,
}
"""How long each command may stay silent (`wizard.remote.step_timeouts`)."""
