"""Every command the executor runs, by the name a plan's command change gives it.

A command change's `action` is its name; the executor looks it up here and calls it with a
`CommandContext` (`wizard.pipeline.command_run`). Set-up commands live in
`setup_commands`, a client's later life in `lifecycle.commands`; file, directory and
crontab changes are not commands (`write_units`).
"""

from __future__ import annotations

from wizard.pipeline import setup_commands as setup
from wizard.pipeline.apply_outcome import ApplyStepError
from wizard.pipeline.command_run import Command, CommandContext
from wizard.pipeline.lifecycle import commands as lifecycle
from wizard.remote.step_timeouts import BORG, QUICK

COMMANDS: dict[str, Command] = {
    "generate-key": setup.generate_key,
    "create-user": setup.create_user,
    "init-repo": setup.init_repo,
    setup.GUARD_INIT: setup.init_guard,
    "retire-config": lifecycle.retire_config,
    "edit-config": lifecycle.edit_config,
    "retire-cron-lines": lifecycle.edit_config,
    "restore-repokey": lifecycle.guard_action("restore-key", kind=QUICK),
    "delete-repository": lifecycle.delete_repository,
    "switch-key": lifecycle.switch_key,
    "guard-rollback": lifecycle.guard_action("rollback", kind=BORG),
    "guard-acknowledge": lifecycle.guard_action("acknowledge", kind=BORG),
    "forget-cache": lifecycle.forget_cache,
    "restore": lifecycle.restore,
}


def run_command(context: CommandContext) -> None:
    """Run the command `context.change` names; an unknown name fails the step."""
    command = COMMANDS.get(context.change.action)
    if command is None:
        raise ApplyStepError(context.host, context.change.title, "unknown command")
    command(context)
