"""`borgkeep remove | rotate-key | recover | restore`: the rest of a client's life.

Each works like `apply`: gather, print the plan (diffs), ask unless `--yes`, apply, all
while holding the server's lock. Exit codes: 0 done or nothing to do, 1 error or refused,
2 with `--json` and no `--yes` when changes are pending, or for `recover` without
`--acknowledge`/`--rollback` when a decision is needed. `--json` prints one object and
never asks: the plan, and with `--yes` the result too.
"""

from __future__ import annotations

import argparse
import json
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.cli import common
from wizard.cli.common import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from wizard.cli.interrupts import cancel_on_interrupt, command_line

if TYPE_CHECKING:  # the engine loads only when a command runs: `--version` stays light
    from wizard.pipeline.lifecycle.request import LifecycleRequest


def add_lifecycle_parsers(sub, common_options: argparse.ArgumentParser) -> None:
    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, parents=[common_options], help=help_text)
        parser.add_argument("client", metavar="CLIENT")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument(
            "--json",
            action="store_true",
            help='print one JSON object and never ask (on failure: {"error": ...})',
        )
        return parser

    remove = action("remove", "retire a client: its key, jobs and files leave every host")
    remove.add_argument(
        "--purge-repository",
        metavar="CLIENT",
        help="also delete its repository and archives; repeat the client's name to confirm",
    )
    action("rotate-key", "give a client a new key; prove the old one is refused")
    recover = action("recover", "after a guard refusal: show what vanished, then decide")
    mode = recover.add_mutually_exclusive_group()
    mode.add_argument(
        "--acknowledge", action="store_true", help="the deletion was deliberate: accept it"
    )
    mode.add_argument(
        "--rollback", action="store_true", help="roll the repository back (Borg's append-only way)"
    )
    restore = action("restore", "restore a file onto a client from its backups")
    restore.add_argument("path", metavar="PATH", help="absolute path, as it was on the client")
    restore.add_argument("--archive", metavar="NAME", help="which archive (default: the newest)")
    restore.add_argument(
        "--to",
        metavar="DIR",
        help="where to (default: a new /var/tmp/borgkeep-restore-CLIENT-TIMESTAMP)",
    )
    restore.add_argument(
        "--overwrite",
        action="store_true",
        help="restore into an existing DIR (`--to /`: over the live files)",
    )


def request_of(args: argparse.Namespace) -> LifecycleRequest:
    from wizard.pipeline.lifecycle.request import LifecycleRequest

    if args.command == "remove":
        return LifecycleRequest("remove", args.client, purge=args.purge_repository is not None)
    if args.command == "recover":
        mode = "acknowledge" if args.acknowledge else "rollback" if args.rollback else None
        return LifecycleRequest("recover", args.client, mode=mode)
    if args.command == "restore":
        return LifecycleRequest(
            "restore",
            args.client,
            path=args.path,
            archive=args.archive,
            destination=args.to,
            overwrite=args.overwrite,
        )
    return LifecycleRequest(args.command, args.client)


def cmd_lifecycle(args: argparse.Namespace) -> int:
    if args.command == "remove" and args.purge_repository not in (None, args.client):
        common.fail(
            args,
            f"--purge-repository must repeat the client's name exactly (--purge-repository "
            f"{args.client}), not {args.purge_repository!r}: nothing was removed or purged",
        )
        return EXIT_ERROR
    request = request_of(args).checked(datetime.now().strftime("%Y%m%dT%H%M%S"))
    inventory = common.load(args)
    with common.session(args, inventory, quiet=args.json) as session, session.locked():
        from wizard.session import LifecycleRefused

        try:
            planned = session.plan_lifecycle(request)
        except LifecycleRefused as exc:
            common.fail(args, str(exc))
            return EXIT_ERROR
        return _decide_and_apply(args, session, planned, common.inventory_path(args))


def _decide_and_apply(args, session, planned, inventory_path: Path) -> int:
    """Show the plan, then stop (a decision is needed, `--json` without `--yes`, or no to
    the prompt) or apply it."""
    from wizard.reports import lifecycle_plan_text

    payload = {
        "action": planned.request.action,
        "client": planned.request.client,
        **json.loads(planned.plan.to_json()),
        "notes": planned.notes,
        **planned.details,
        "choice": planned.choice,
    }
    if not args.json:
        print(lifecycle_plan_text(planned), end="")
    if planned.choice:
        if args.json:
            print(json.dumps(payload, indent=2))
        return EXIT_CHANGES
    if args.json and not args.yes:
        print(json.dumps(payload, indent=2))
        return EXIT_OK if planned.empty else EXIT_CHANGES
    if not planned.empty and not args.yes and not common.confirmed():
        return EXIT_ERROR
    return _apply(args, session, planned, inventory_path, payload)


def _apply(args, session, planned, inventory_path: Path, payload: dict) -> int:
    from wizard.reports import lifecycle_result_lines

    finish = f"run `{finishing_command(args)}` again: its plan picks up where this one stopped"
    with cancel_on_interrupt(threading.Event(), finish) as cancel:
        outcome = session.run_lifecycle(planned, cancel)
    interrupted = cancel.is_set()
    saved = None
    if outcome.ok and outcome.inventory is not None:
        from wizard.inventory.model import save_inventory

        save_inventory(outcome.inventory, inventory_path)
        saved = str(inventory_path)
    lines = lifecycle_result_lines(outcome)
    if interrupted:
        from wizard.reports import interrupted_lines

        lines += interrupted_lines(outcome.result, finish)
    if saved:
        lines.append(f"{planned.request.client} left the inventory ({saved})")
    if args.json:
        payload["result"] = _result_json(outcome, saved, interrupted)
        if interrupted:
            payload["result"]["finish"] = finish
        print(json.dumps(payload, indent=2))
    else:
        print("\n".join(lines))
    return EXIT_OK if outcome.ok and not interrupted else EXIT_ERROR


def _result_json(outcome, saved: str | None, interrupted: bool) -> dict:
    from wizard.reports import step_error_text
    from wizard.safe_text import one_line

    return {
        "ok": outcome.ok,
        "hosts": {
            host: {
                "done": len(o.done),
                "skipped": len(o.skipped),
                "error": one_line(step_error_text(o.error)) if o.error else None,
            }
            for host, o in outcome.result.outcomes.items()
        },
        "notes": outcome.result.notes,
        "forgotten_secrets": outcome.forgotten,
        "inventory_saved": saved,
        "interrupted": interrupted,
    }


def finishing_command(args: argparse.Namespace) -> str:
    """The same command, to run again after an interrupt (without `--yes` or `--json`)."""
    words = [args.command, args.client]
    if args.command == "remove" and args.purge_repository:
        words += ["--purge-repository", args.purge_repository]
    elif args.command == "recover" and (args.acknowledge or args.rollback):
        words.append("--acknowledge" if args.acknowledge else "--rollback")
    elif args.command == "restore":
        words.append(args.path)
        for option, value in (("--archive", args.archive), ("--to", args.to)):
            words += [option, value] if value else []
        words += ["--overwrite"] if args.overwrite else []
    return command_line(*words, inventory=args.inventory)


LIFECYCLE_COMMAND_NAMES = ("remove", "rotate-key", "recover", "restore")
