"""The setup commands: `validate`, `plan`, `apply`, `verify`, `status` (and the parser of
`demo`, which the launcher runs: it needs the lab and the wizard).

Exit codes: 0 success / nothing to change, 2 changes pending (`plan`) or attention needed
(`status`), 1 error.
"""

from __future__ import annotations

import argparse
import threading
from datetime import UTC
from pathlib import Path

from wizard.cli import common
from wizard.cli.common import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from wizard.cli.interrupts import cancel_on_interrupt, finish_apply

BRIEF_DIFF_LINES = 40


def add_setup_parsers(sub, common_options: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "validate", parents=[common_options], help="check the inventory without connecting anywhere"
    )
    plan = sub.add_parser(
        "plan", parents=[common_options], help="gather facts and show every change as a diff"
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
    apply = sub.add_parser("apply", parents=[common_options], help="apply what `plan` shows")
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
        "verify",
        parents=[common_options],
        help="run the post-apply proofs on every host (read-only)",
    )
    status = sub.add_parser(
        "status",
        parents=[common_options],
        help="every client's last backup, size and guard state, read from the server alone",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object, nothing else")


def add_demo_parser(sub, common_options: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[common_options],
        help="start the local lab (needs root) and open the wizard on it",
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


def cmd_validate(args: argparse.Namespace) -> int:
    inventory = common.load(args)
    print(
        f"{common.inventory_path(args)}: valid (server {inventory.server.name}, "
        f"{len(inventory.clients)} client(s))"
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from wizard.reports import render_plan_text

    inventory = common.load(args)
    with common.session(args, inventory, quiet=args.json) as session:
        plan = session.plan()
        if args.out:
            session.save_plan(plan, args.out, common.inventory_path(args))
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
        inventory = common.load(args)
    with common.session(args, inventory) as session, session.locked():
        return _apply_locked(args, session, saved)


def _saved_plan(args: argparse.Namespace):
    """The plan file and the inventory it names, checked before connecting anywhere."""
    from wizard.session import PlanMismatch, load_saved_plan

    try:
        saved = load_saved_plan(args.planfile)
    except PlanMismatch as exc:
        common.err(str(exc))
        return None
    if args.inventory and args.inventory.resolve() != saved.inventory_path:
        common.err(
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
            common.err(str(exc))
            return EXIT_ERROR
    else:
        print(render_plan_text(plan), end="")
    if plan.empty:
        return EXIT_ERROR if session.errors else EXIT_OK
    if not args.yes and saved is None and not common.confirmed():
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
    return _proofs_after_apply(session)


def _proofs_after_apply(session) -> int:
    from wizard.reports import render_verify_report

    try:
        report = session.verify()
    except KeyboardInterrupt:
        common.err("interrupted during the proofs: every change was applied; run `borgkeep verify`")
        return EXIT_ERROR
    print(render_verify_report(report), end="")
    return EXIT_OK if report.ok else EXIT_ERROR


def cmd_verify(args: argparse.Namespace) -> int:
    from wizard.reports import render_verify_report

    inventory = common.load(args)
    with common.session(args, inventory) as session:
        report = session.verify()
        print(render_verify_report(report), end="")
        return EXIT_OK if report.ok and not session.errors else EXIT_ERROR


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when every client is ok, 2 when any needs attention, 1 on error."""
    from datetime import datetime

    from wizard.reports import render_status_text

    inventory = common.load(args)
    with common.session(args, inventory, quiet=True) as session:
        report = session.status()
    if args.json:
        print(report.to_json())
    else:
        print(render_status_text(report, datetime.now(UTC)), end="")
    return EXIT_OK if report.ok else EXIT_CHANGES


SETUP_COMMANDS = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "verify": cmd_verify,
    "status": cmd_status,
}
