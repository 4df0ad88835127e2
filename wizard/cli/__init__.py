"""`borgkeep` command line: the engine's commands, one module per family —
`setup` (validate, plan, apply, verify, status), `lifecycle` (a client's later life:
remove, rotate-key, recover, restore), `passphrase` — over `common` (the inventory, the
session, failures, the one confirm prompt), `interrupts` (Ctrl-C and SIGTERM) and
`progress` (progress lines on stderr).

The program's entry point, `screens.launcher`, parses the same arguments and adds what
sits above the engine: the wizard (no command) and `demo` (the lab). This package imports
neither.

Exit codes: 0 success / nothing to change, 2 changes pending (`plan`) or attention needed
(`status`), 1 error.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from wizard import __version__
from wizard.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    err,
    fail,
    field_error,
    inventory_path,
    with_host_key_hint,
)
from wizard.cli.interrupts import interrupt_message, on_sigterm
from wizard.cli.lifecycle import LIFECYCLE_COMMAND_NAMES, add_lifecycle_parsers, cmd_lifecycle
from wizard.cli.passphrase import add_passphrase_parser, cmd_passphrase
from wizard.cli.setup import SETUP_COMMANDS, add_demo_parser, add_setup_parsers
from wizard.inventory.validation import InventoryError

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "build_parser", "inventory_path", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borgkeep",
        description="Set up tamper-resistant (append-only) Borg backups for a fleet over SSH.",
    )
    parser.add_argument("--version", action="version", version=f"borgkeep {__version__}")
    _add_global_options(parser, None)
    sub = parser.add_subparsers(dest="command")
    # The global options work after the command too (`borgkeep plan --inventory X`).
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, argparse.SUPPRESS)
    add_setup_parsers(sub, common)
    add_lifecycle_parsers(sub, common)
    add_passphrase_parser(sub, common)
    add_demo_parser(sub, common)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    inventory_default = default if default is argparse.SUPPRESS else None
    accept_default = default if default is argparse.SUPPRESS else False
    parser.add_argument(
        "--inventory",
        type=Path,
        default=inventory_default,
        help="inventory file (default: $BORGKEEP_INVENTORY or the platform config dir)",
    )
    parser.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        default=accept_default,
        help="accept and record unknown host keys (like StrictHostKeyChecking=accept-new); "
        "a changed host key is always refused",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=default if default is argparse.SUPPRESS else None,
        metavar="SECONDS",
        help="how long to wait for each host's TCP connect and SSH banner "
        "(default: $BORGKEEP_CONNECT_TIMEOUT or 15)",
    )


def _seconds(text: str) -> float:
    from wizard.session import parse_connect_timeout

    try:
        return parse_connect_timeout(text, "--connect-timeout")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str | None, Command] = {
    **SETUP_COMMANDS,
    **dict.fromkeys(LIFECYCLE_COMMAND_NAMES, cmd_lifecycle),
    "passphrase": cmd_passphrase,
}


def main(
    argv: list[str] | None = None, more_commands: Mapping[str | None, Command] | None = None
) -> int:
    """Parse `argv` and run its command; `more_commands` are the launcher's (the wizard for
    no command, `demo`), which this engine package cannot import."""
    args = build_parser().parse_args(argv)
    command = {**COMMANDS, **(more_commands or {})}.get(args.command)
    if command is None:
        err(
            f"`{args.command or 'borgkeep'}` needs the full program: run it as `borgkeep` "
            "(python -m screens.launcher)"
        )
        return EXIT_ERROR
    engine = args.command in COMMANDS
    try:
        with on_sigterm(engine):
            return command(args)
    except InventoryError as exc:
        fail(args, f"invalid inventory:\n{exc}", [field_error(e) for e in exc.errors])
        return EXIT_ERROR
    except KeyboardInterrupt:
        fail(args, interrupt_message(args.command))
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("BORGKEEP_DEBUG"):
            raise
        fail(args, with_host_key_hint(str(exc) or type(exc).__name__))
        return EXIT_ERROR
