"""`borgkeep` command line: the engine's commands (validate, plan, apply, verify).

The program's entry point, `screens.launcher`, parses the same arguments and adds what
sits above the engine: the wizard (no command) and `demo` (the lab). This module imports
neither.

Exit codes: 0 success / nothing to change, 2 changes pending (`plan`) or attention needed
(`status`), 1 error.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path

from wizard import __version__
from wizard.inventory.model import default_inventory_path
from wizard.inventory.parse import InventoryError, load_inventory

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
ACCEPT_FLAG = "--accept-new-host-keys"


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
    sub.add_parser(
        "validate", parents=[common], help="check the inventory without connecting anywhere"
    )
    plan = sub.add_parser(
        "plan", parents=[common], help="gather facts and show every change as a diff"
    )
    plan.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    plan.add_argument("--out", type=Path, metavar="PLANFILE", help="save the plan for `apply`")
    apply = sub.add_parser("apply", parents=[common], help="apply what `plan` shows")
    apply.add_argument("planfile", nargs="?", type=Path, help="apply exactly this saved plan")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--no-verify", action="store_true", help="skip the post-apply proofs (run `verify` later)"
    )
    sub.add_parser(
        "verify", parents=[common], help="run the post-apply proofs on every host (read-only)"
    )
    status = sub.add_parser(
        "status",
        parents=[common],
        help="every client's last backup, size and guard state, read from the server alone",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    demo = sub.add_parser(
        "demo", parents=[common], help="start the local lab (needs root) and open the wizard on it"
    )
    demo.add_argument("--keep", action="store_true", help="leave the lab running and on disk")
    demo.add_argument("--cli", action="store_true", help="run plan + apply + verify, no TUI")
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


def _inventory_path(args: argparse.Namespace) -> Path:
    return args.inventory or default_inventory_path()


def _err(message: str) -> None:
    print(f"borgkeep: {message}", file=sys.stderr)


def _load(args: argparse.Namespace):
    path = _inventory_path(args)
    return load_inventory(path)


def _print_event(quiet: bool):
    from wizard.reports import event_line

    lock = threading.Lock()

    def sink(host: str, level: str, message: str) -> None:
        if quiet:
            return
        if level == "error" and "unknown host key" in message:
            message += f" (after checking it, rerun with {ACCEPT_FLAG} to record it)"
        with lock:
            print(f"  {event_line(host, level, message)}", file=sys.stderr, flush=True)

    return sink


def _session(args: argparse.Namespace, inventory, quiet: bool = False):
    from wizard.session import FleetSession

    return FleetSession(
        inventory,
        accept_new_host_keys=args.accept_new_host_keys,
        on_event=_print_event(quiet),
    )


def cmd_validate(args: argparse.Namespace) -> int:
    inventory = _load(args)
    print(
        f"{_inventory_path(args)}: valid (server {inventory.server.name}, "
        f"{len(inventory.clients)} client(s))"
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from wizard.reports import render_plan_text

    inventory = _load(args)
    with _session(args, inventory, quiet=args.json) as session:
        plan = session.plan()
        if args.out:
            session.save_plan(plan, args.out, _inventory_path(args))
        if args.json:
            print(plan.to_json())
        else:
            print(render_plan_text(plan), end="")
            if args.out:
                print(f"plan saved to {args.out}; apply it with: borgkeep apply {args.out}")
        if session.errors:
            return EXIT_ERROR
        return EXIT_OK if plan.empty else EXIT_CHANGES


def cmd_apply(args: argparse.Namespace) -> int:
    inventory = _load(args)
    with _session(args, inventory) as session, session.locked():
        return _apply_locked(args, session)


def _apply_locked(args: argparse.Namespace, session) -> int:
    """Plan and apply while holding the server's lock, so no other apply interleaves."""
    from wizard.reports import apply_result_lines, render_plan_text, secrets_lines

    plan = session.plan()
    if args.planfile:
        from wizard.session import PlanMismatch

        try:
            session.check_saved_plan(args.planfile, plan, _inventory_path(args))
        except PlanMismatch as exc:
            _err(str(exc))
            return EXIT_ERROR
    else:
        print(render_plan_text(plan), end="")
    if plan.empty:
        return EXIT_ERROR if session.errors else EXIT_OK
    if not args.yes and not args.planfile:
        if not sys.stdin.isatty():
            _err("refusing to apply without confirmation: pass --yes (no terminal to ask on)")
            return EXIT_ERROR
        answer = input("Apply these changes? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing applied.")
            return EXIT_ERROR
    result = session.apply(plan)
    print("\n".join([*apply_result_lines(result), *secrets_lines(result, session.store.location)]))
    if session.store.warning:
        print(f"warning: {session.store.warning}")
    if not result.ok or session.errors:
        return EXIT_ERROR
    if args.no_verify:
        return EXIT_OK
    from wizard.reports import render_verify_report

    report = session.verify()
    print(render_verify_report(report), end="")
    return EXIT_OK if report.ok else EXIT_ERROR


def cmd_verify(args: argparse.Namespace) -> int:
    from wizard.reports import render_verify_report

    inventory = _load(args)
    with _session(args, inventory) as session:
        report = session.verify()
        print(render_verify_report(report), end="")
        return EXIT_OK if report.ok and not session.errors else EXIT_ERROR


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when every client is ok, 2 when any needs attention, 1 on error."""
    from datetime import datetime

    from wizard.reports import render_status_text

    inventory = _load(args)
    with _session(args, inventory, quiet=True) as session:
        report = session.status()
    if args.json:
        print(report.to_json())
    else:
        print(render_status_text(report, datetime.now(UTC)), end="")
    return EXIT_OK if report.ok else EXIT_CHANGES


Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str | None, Command] = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "verify": cmd_verify,
    "status": cmd_status,
}


def inventory_path(args: argparse.Namespace) -> Path:
    """The inventory a command works on: `--inventory`, `BORGKEEP_INVENTORY`, or the default."""
    return _inventory_path(args)


def main(
    argv: list[str] | None = None, more_commands: Mapping[str | None, Command] | None = None
) -> int:
    """Parse `argv` and run its command; `more_commands` are the launcher's (the wizard for
    no command, `demo`), which this engine module cannot import."""
    args = build_parser().parse_args(argv)
    command = {**COMMANDS, **(more_commands or {})}.get(args.command)
    if command is None:
        _err(
            f"`{args.command or 'borgkeep'}` needs the full program: run it as `borgkeep` "
            "(python -m screens.launcher)"
        )
        return EXIT_ERROR
    try:
        return command(args)
    except InventoryError as exc:
        _err(f"invalid inventory:\n{exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("BORGKEEP_DEBUG"):
            raise
        message = str(exc) or type(exc).__name__
        if "unknown host key" in message:
            message += f" (after checking it, rerun with {ACCEPT_FLAG} to record it)"
        _err(message)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
