"""What every command of the command line shares: the exit codes, the inventory it works
on, the session it opens (with progress on stderr), how a failure is said (one line on
stderr, or one `{"error": ...}` object with `--json`), the unknown-host-key hint, and the
one "Apply these changes?" prompt."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wizard.safe_text import one_line

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
ACCEPT_FLAG = "--accept-new-host-keys"


def inventory_path(args: argparse.Namespace) -> Path:
    """The inventory a command works on: `--inventory`, `BORGKEEP_INVENTORY`, or the default."""
    from wizard.inventory.model import default_inventory_path

    return args.inventory or default_inventory_path()


def err(message: str) -> None:
    print(f"borgkeep: {message}", file=sys.stderr)


def with_host_key_hint(message: str) -> str:
    """`message`, with how to record an unknown host key when it is about one."""
    if "unknown host key" in message:
        message += f" (after checking it, rerun with {ACCEPT_FLAG} to record it)"
    return message


def load(args: argparse.Namespace):
    path = inventory_path(args)
    from wizard.inventory.parse import load_inventory

    return load_inventory(path)


def print_event(quiet: bool, server: str):
    """Progress on stderr, one line per event (on a terminal, a ticking line for what is
    still running: see `wizard.cli.progress`). The server's own failure is left to the
    final error message, so each host's failure is said once."""
    from wizard.cli.progress import ProgressLines
    from wizard.reports import event_line

    progress = None if quiet else ProgressLines()

    def sink(host: str, level: str, message: str) -> None:
        if progress is None:
            return
        if level == "error" and host == server:
            progress.event(host, level, message, None)
            return
        if level == "error":
            message = with_host_key_hint(message)
        progress.event(host, level, message, f"  {event_line(host, level, message)}")

    return sink


def session(args: argparse.Namespace, inventory, quiet: bool = False):
    from wizard.session import FleetSession

    options = {}
    if getattr(args, "connect_timeout", None):
        options["connect_timeout"] = args.connect_timeout
    return FleetSession(
        inventory,
        accept_new_host_keys=args.accept_new_host_keys,
        on_event=print_event(quiet, inventory.server.name),
        **options,
    )


def confirmed() -> bool:
    """Ask "Apply these changes?" on the terminal; False (said why) without one or unless
    the answer is yes."""
    if not sys.stdin.isatty():
        err("refusing to apply without confirmation: pass --yes (no terminal to ask on)")
        return False
    answer = input("Apply these changes? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        print("Nothing applied.")
        return False
    return True


def field_error(error) -> dict:
    return {
        "field": error.field,
        "message": error.message,
        "line": error.line,
        "source": error.source,
    }


def fail(args: argparse.Namespace, message: str, errors: list[dict] | None = None) -> None:
    """A failure: one line on stderr, or with `--json` one `{"error": ...}` object on stdout
    (the exit code is the same either way)."""
    if getattr(args, "json", False):
        payload: dict = {"error": one_line(message)}
        if errors:
            payload["errors"] = errors
        print(json.dumps(payload, indent=2))
    else:
        err(message)
