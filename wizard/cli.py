"""`borgkeep` command line: the engine's commands (validate, plan, apply, verify, status,
and a client's later life in `wizard.cli_lifecycle`: remove, rotate-key, recover, restore).

The program's entry point, `screens.launcher`, parses the same arguments and adds what
sits above the engine: the wizard (no command) and `demo` (the lab). This module imports
neither.

Exit codes: 0 success / nothing to change, 2 changes pending (`plan`) or attention needed
(`status`), 1 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path

from wizard import __version__
from wizard.cli_interrupts import cancel_on_interrupt, finish_apply, interrupt_message, on_sigterm
from wizard.cli_lifecycle import LIFECYCLE_COMMAND_NAMES, add_lifecycle_parsers, cmd_lifecycle
from wizard.cli_secrets import add_passphrase_parser, cmd_passphrase
from wizard.inventory.validation import InventoryError
from wizard.safe_text import one_line

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
ACCEPT_FLAG = "--accept-new-host-keys"
BRIEF_DIFF_LINES = 40


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
    plan.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object, nothing else (on failure: {"error": ...})',
    )
    plan.add_argument("--out", type=Path, metavar="PLANFILE", help="save the plan for `apply`")
    plan.add_argument(
        "--brief",
        action="store_true",
        help=f"show the first lines of a diff longer than {BRIEF_DIFF_LINES} lines (the prune "
        "guard program) and how many more there are",
    )
    apply = sub.add_parser("apply", parents=[common], help="apply what `plan` shows")
    apply.add_argument(
        "planfile",
        nargs="?",
        type=Path,
        help="apply exactly this saved plan, with the inventory it was made from",
    )
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
    add_lifecycle_parsers(sub, common)
    add_passphrase_parser(sub, common)
    demo = sub.add_parser(
        "demo", parents=[common], help="start the local lab (needs root) and open the wizard on it"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the lab running when the demo ends (stop it with --stop DIR; come back "
        "to it with --resume DIR)",
    )
    demo.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="bring a kept lab back (stopped hosts restart from their files, on new ports if "
        "needed) with one new host to add to the fleet",
    )
    demo.add_argument(
        "--stop", type=Path, metavar="DIR", help="stop a kept lab's hosts (their files stay)"
    )
    demo.add_argument("--cli", action="store_true", help="run plan + apply + verify, no TUI")
    demo.add_argument(
        "--full", action="store_true", help="with --cli: print every line of every diff"
    )
    demo.add_argument(
        "--protect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="end by showing the protection work: a client deletes an archive, the guard "
        "refuses, status and an alert say so, you acknowledge (default: on with --cli, "
        "asked after the wizard)",
    )
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


def _inventory_path(args: argparse.Namespace) -> Path:
    from wizard.inventory.model import default_inventory_path

    return args.inventory or default_inventory_path()


def _err(message: str) -> None:
    print(f"borgkeep: {message}", file=sys.stderr)


def _load(args: argparse.Namespace):
    path = _inventory_path(args)
    from wizard.inventory.parse import load_inventory

    return load_inventory(path)


def _print_event(quiet: bool, server: str):
    """Progress on stderr, one line per event (on a terminal, a ticking line for what is
    still running: see `wizard.cli_progress`). The server's own failure is left to the
    final error message, so each host's failure is said once."""
    from wizard.cli_progress import ProgressLines
    from wizard.reports import event_line

    progress = None if quiet else ProgressLines()

    def sink(host: str, level: str, message: str) -> None:
        if progress is None:
            return
        if level == "error" and host == server:
            progress.event(host, level, message, None)
            return
        if level == "error" and "unknown host key" in message:
            message += f" (after checking it, rerun with {ACCEPT_FLAG} to record it)"
        progress.event(host, level, message, f"  {event_line(host, level, message)}")

    return sink


def _session(args: argparse.Namespace, inventory, quiet: bool = False):
    from wizard.session import FleetSession

    options = {}
    if getattr(args, "connect_timeout", None):
        options["connect_timeout"] = args.connect_timeout
    return FleetSession(
        inventory,
        accept_new_host_keys=args.accept_new_host_keys,
        on_event=_print_event(quiet, inventory.server.name),
        **options,
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
            print(plan.to_json())  # with `unchecked` and `unreachable`: the hosts not checked
        else:
            brief = BRIEF_DIFF_LINES if args.brief else None
            print(render_plan_text(plan, brief_lines=brief), end="")
            if args.out:
                print(f"plan saved to {args.out}; apply it with: borgkeep apply {args.out}")
        if session.errors:
            return EXIT_ERROR
        return EXIT_OK if plan.empty else EXIT_CHANGES


def cmd_apply(args: argparse.Namespace) -> int:
    saved = None
    if args.planfile:
        saved = _saved_plan(args)
        if saved is None:
            return EXIT_ERROR
        from wizard.inventory.parse import parse_inventory

        inventory = parse_inventory(saved.inventory_text, str(saved.inventory_path))
    else:
        inventory = _load(args)
    with _session(args, inventory) as session, session.locked():
        return _apply_locked(args, session, saved)


def _saved_plan(args: argparse.Namespace):
    """The plan file and the inventory it names, checked before connecting anywhere."""
    from wizard.session import PlanMismatch, load_saved_plan

    try:
        saved = load_saved_plan(args.planfile)
    except PlanMismatch as exc:
        _err(str(exc))
        return None
    if args.inventory and args.inventory.resolve() != saved.inventory_path:
        _err(
            f"{args.planfile} was made from the inventory {saved.inventory_path}, "
            f"not {args.inventory}; drop --inventory or make a new plan"
        )
        return None
    return saved


def _apply_locked(args: argparse.Namespace, session, saved) -> int:
    """Plan and apply while holding the server's lock, so no other apply interleaves."""
    from wizard.reports import apply_result_lines, render_plan_text, secrets_lines

    plan = session.plan(leave_out=saved.left_out if saved else ())
    if saved is not None:
        from wizard.session import PlanMismatch

        try:
            session.check_saved_plan(saved, plan)
        except PlanMismatch as exc:
            _err(str(exc))
            return EXIT_ERROR
    else:
        print(render_plan_text(plan), end="")
    if plan.empty:
        return EXIT_ERROR if session.errors else EXIT_OK
    if not args.yes and saved is None:
        if not sys.stdin.isatty():
            _err("refusing to apply without confirmation: pass --yes (no terminal to ask on)")
            return EXIT_ERROR
        answer = input("Apply these changes? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing applied.")
            return EXIT_ERROR
    finish = finish_apply(args.inventory, saved.inventory_path if saved else None)
    with cancel_on_interrupt(threading.Event(), finish) as cancel:
        result = session.apply(plan, cancel)
        print("\n".join([*apply_result_lines(result), *secrets_lines(result, session)]))
        if cancel.is_set():
            from wizard.reports import interrupted_lines

            print("\n".join(interrupted_lines(result, finish)), flush=True)
            return EXIT_ERROR
    if not result.ok or session.errors:
        return EXIT_ERROR
    if args.no_verify:
        return EXIT_OK
    from wizard.reports import render_verify_report

    try:
        report = session.verify()
    except KeyboardInterrupt:
        _err("interrupted during the proofs: every change was applied; run `borgkeep verify`")
        return EXIT_ERROR
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
    **dict.fromkeys(LIFECYCLE_COMMAND_NAMES, cmd_lifecycle),
    "passphrase": cmd_passphrase,
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
    engine = args.command in COMMANDS
    try:
        with on_sigterm(engine):
            return command(args)
    except InventoryError as exc:
        _fail(args, f"invalid inventory:\n{exc}", [_field_error(e) for e in exc.errors])
        return EXIT_ERROR
    except KeyboardInterrupt:
        _fail(args, interrupt_message(args.command))
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("BORGKEEP_DEBUG"):
            raise
        message = str(exc) or type(exc).__name__
        if "unknown host key" in message:
            message += f" (after checking it, rerun with {ACCEPT_FLAG} to record it)"
        _fail(args, message)
        return EXIT_ERROR


def _field_error(error) -> dict:
    return {
        "field": error.field,
        "message": error.message,
        "line": error.line,
        "source": error.source,
    }


def _fail(args: argparse.Namespace, message: str, errors: list[dict] | None = None) -> None:
    """A failure: one line on stderr, or with `--json` one `{"error": ...}` object on stdout
    (the exit code is the same either way)."""
    if getattr(args, "json", False):
        payload: dict = {"error": one_line(message)}
        if errors:
            payload["errors"] = errors
        print(json.dumps(payload, indent=2))
    else:
        _err(message)


if __name__ == "__main__":
    sys.exit(main())
