"""`borgkeep` command line: validate, plan, apply, verify, demo — and the TUI without one.

Exit codes: 0 success / nothing to change, 2 changes pending (`plan`), 1 error.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from wizard import __version__
from wizard.inventory import InventoryError, default_inventory_path, load_inventory

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
    lock = threading.Lock()

    def sink(host: str, level: str, message: str) -> None:
        if quiet:
            return
        mark = {"error": "✗", "done": "✓", "skip": "-"}.get(level, "·")
        if level == "error" and "unknown host key" in message:
            message += f" (after checking it, rerun with {ACCEPT_FLAG} to record it)"
        with lock:
            print(f"  {mark} {host}: {message}", file=sys.stderr, flush=True)

    return sink


def _session(args: argparse.Namespace, inventory, quiet: bool = False):
    from wizard.engine import FleetSession

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
    from wizard.plan import render_plan_text

    inventory = _load(args)
    with _session(args, inventory, quiet=args.json) as session:
        plan = session.plan()
        if args.out:
            from wizard.plan_file import save_plan_file

            save_plan_file(plan, args.out, _inventory_path(args))
        if args.json:
            print(plan.to_json())
        else:
            print(render_plan_text(plan), end="")
            if args.out:
                print(f"plan saved to {args.out}; apply it with: borgkeep apply {args.out}")
        if session.errors:
            return EXIT_ERROR
        return EXIT_OK if plan.empty else EXIT_CHANGES


def _print_apply_result(result, store_location: str) -> None:
    for host, outcome in result.outcomes.items():
        if outcome.error:
            print(f"✗ {host}: failed at {outcome.error.step}: {outcome.error}")
        elif outcome.skipped:
            print(f"- {host}: {len(outcome.skipped)} step(s) skipped")
        elif outcome.done:
            print(f"✓ {host}: {len(outcome.done)} change(s) applied")
    print(f"secrets (repository passphrases and exported keys) are stored in {store_location}")
    for client, name in result.exported_keys.items():
        print(f"  the repository key of {client} was exported to the secrets store as {name!r}")


def cmd_apply(args: argparse.Namespace) -> int:
    inventory = _load(args)
    with _session(args, inventory) as session, session.locked():
        return _apply_locked(args, session)


def _apply_locked(args: argparse.Namespace, session) -> int:
    """Plan and apply while holding the server's lock, so no other apply interleaves."""
    from wizard.plan import render_plan_text

    plan = session.plan()
    if args.planfile:
        from wizard.plan_file import PlanMismatch, check_plan_file

        try:
            check_plan_file(args.planfile, plan, _inventory_path(args))
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
    _print_apply_result(result, session.store.location)
    if session.store.warning:
        print(f"warning: {session.store.warning}")
    if not result.ok or session.errors:
        return EXIT_ERROR
    if args.no_verify:
        return EXIT_OK
    from wizard.verify import render_report, verify_fleet

    report = verify_fleet(session)
    print(render_report(report), end="")
    return EXIT_OK if report.ok else EXIT_ERROR


def cmd_verify(args: argparse.Namespace) -> int:
    from wizard.verify import render_report, verify_fleet

    inventory = _load(args)
    with _session(args, inventory) as session:
        session.gather()
        report = verify_fleet(session)
        print(render_report(report), end="")
        return EXIT_OK if report.ok and not session.errors else EXIT_ERROR


def cmd_demo(args: argparse.Namespace) -> int:
    from wizard.demo import run_demo

    return run_demo(keep=args.keep, cli_only=args.cli)


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from screens.app import run_app
    except ImportError as exc:  # the TUI is optional for scripted use
        _err(f"the wizard is not available ({exc}); use `borgkeep --help` for the commands")
        return EXIT_ERROR
    return run_app(_inventory_path(args), accept_new_host_keys=args.accept_new_host_keys)


COMMANDS = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "verify": cmd_verify,
    "demo": cmd_demo,
    None: cmd_tui,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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
