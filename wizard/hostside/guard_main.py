"""The guard's command line: `python3 -I guard.py COMMAND CLIENT`.

Commands: `prune` (the scheduled job), `check` (read-only, for `borgkeep verify`), `init`
(record the first baseline), `acknowledge` (accept the repository as it is now), `inspect`
(read-only JSON for `borgkeep recover`), `rollback CLIENT N` (Borg's append-only rollback),
and for every client `status`, `health` and `drill` (the restore drill; `drill CLIENT`
for one).
Exit codes: 0 ok, 1 failure, 2 usage, 3 refused. Every outcome is one line,
`borgkeep-guard: CLIENT: ...`, on stdout when ok and on stderr otherwise, also to syslog;
`prune` also sends the alerts configured in `{state_dir}/alerts.json`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from datetime import timezone

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import recover_hidden_repository
from wizard.hostside.guard_check import reading
from wizard.hostside.guard_check import run_check
from wizard.hostside.guard_check import run_checks
from wizard.hostside.guard_drill import run_drills
from wizard.hostside.guard_health import collect_status
from wizard.hostside.guard_health import health_problems
from wizard.hostside.guard_identity import export_text
from wizard.hostside.guard_identity import identity_problem
from wizard.hostside.guard_identity import identity_refusal
from wizard.hostside.guard_identity import nonce_problem
from wizard.hostside.guard_identity import read_config
from wizard.hostside.guard_identity import read_identity
from wizard.hostside.guard_identity import read_nonce
from wizard.hostside.guard_identity import read_reference
from wizard.hostside.guard_key_restore import run_restore_key
from wizard.hostside.guard_notify import load_alerts
from wizard.hostside.guard_notify import report_line
from wizard.hostside.guard_notify import send_alerts
from wizard.hostside.guard_prune import baseline_archives
from wizard.hostside.guard_prune import load_or_migrate
from wizard.hostside.guard_prune import result_record
from wizard.hostside.guard_prune import run_prune
from wizard.hostside.guard_recover import run_inspect
from wizard.hostside.guard_recover import run_rollback
from wizard.hostside.guard_segments import SegmentError
from wizard.hostside.guard_segments import empty_log_boundary
from wizard.hostside.guard_segments import last_committed_segment
from wizard.hostside.guard_segments import touched_objects
from wizard.hostside.guard_setup import EXIT_FAILED
from wizard.hostside.guard_setup import EXIT_OK
from wizard.hostside.guard_setup import EXIT_REFUSED
from wizard.hostside.guard_setup import EXIT_USAGE
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import ConfigError
from wizard.hostside.guard_setup import LockBusy
from wizard.hostside.guard_setup import Outcome
from wizard.hostside.guard_setup import UsageError
from wizard.hostside.guard_setup import client_setup
from wizard.hostside.guard_setup import take_client_lock
from wizard.hostside.guard_state import GuardState
from wizard.hostside.guard_state import StateError
from wizard.hostside.guard_state import guard_state_file
from wizard.hostside.guard_state import load_state
from wizard.hostside.guard_state import save_state
from wizard.hostside.guard_state import write_private_file
from wizard.hostside.guard_text import MESSAGE_PREFIX
from wizard.hostside.guard_text import capped_names

COMMANDS = ("prune", "check", "init", "acknowledge", "inspect", "rollback", "restore-key")
FLEET_COMMANDS = ("status", "health", "drill", "check-all")
USAGE = """\
usage: python3 -I GUARD COMMAND CLIENT
       python3 -I GUARD init CLIENT...
       python3 -I GUARD rollback CLIENT TRANSACTION
       python3 -I GUARD status [--json] | health | drill [CLIENT] | check-all [CLIENT...]

The borgkeep prune guard, run as the borg user. Commands:
  prune CLIENT        prune + compact CLIENT's repository unless the archives were tampered
                      with since the recorded baseline (the scheduled job)
  check CLIENT        read-only: would prune be allowed, and what would it keep/remove
  init CLIENT...      record the current archives as the first baseline (a line each)
  acknowledge CLIENT  accept the repository as it is now (after a refusal); prunes nothing
  restore-key CLIENT  put back the repository key a client rewrote through its append-only
                      key, from the server's copy (CLIENT.repokey, next to the state)
  inspect CLIENT      read-only JSON: the archives that vanished since the baseline and the
                      transaction a rollback would return to (or why there is none)
  rollback CLIENT N   roll the repository back to append-only transaction N (what inspect
                      names): a hard-link copy first, then Borg's documented rollback, then
                      every vanished archive listed and extracted (--dry-run) again
  status [--json]     read-only: every client's newest archive, size, quota use, guard state
  health              the daily job: status, and an alert per problem (stale, never backed
                      up, refused, error, low disk space)
  check-all [CLIENT...]  read-only: check of every client (or those named) in one pass,
                      with one borgmatic prune dry run for all of them; a line per client
  drill [CLIENT]      restore drill: borg extract --dry-run of each client's newest archive,
                      recorded in its state; an alert per failure

Exit status: 0 ok, 1 failure, 2 usage, 3 refused (health: a problem was found)."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(
    argv: Sequence[str],
    config: dict,
    *,
    program: tuple[str, str] = ("python3", "guard.py"),
    now: Callable[[], datetime] = _utc_now,
) -> int:
    """Run one command; `program` is (interpreter, guard path) for the commands it suggests."""
    if list(argv) in (["--help"], ["-h"]):
        print(USAGE)
        return EXIT_OK
    if argv and argv[0] == "drill" and len(argv) <= 2:
        return drill_main(list(argv[1:]), config, program=program, now=now)
    if argv and argv[0] == "check-all":
        return check_all_main(list(argv[1:]), config, program=program, now=now)
    if argv and argv[0] in FLEET_COMMANDS:
        return fleet_main(list(argv), config, program=program, now=now)
    wanted = None
    if len(argv) == 3 and argv[0] == "rollback" and argv[2].isdigit():
        argv, wanted = argv[:2], int(argv[2])
    several = len(argv) > 2 and argv[0] == "init"
    if (
        (len(argv) != 2 and not several)
        or argv[0] not in COMMANDS
        or (argv[0] == "rollback") != (wanted is not None)
    ):
        print(f"{MESSAGE_PREFIX}: wrong arguments\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    command, clients = argv[0], list(argv[1:])
    setups = _setups(clients, config, program)
    if isinstance(setups, int):
        return setups
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    return _worst([_run_client(command, setup, wanted, now) for setup in setups])


def _worst(codes: list[int]) -> int:
    """One exit code for several outcomes: 1 if one failed, else the highest."""
    return EXIT_FAILED if EXIT_FAILED in codes else max(codes, default=EXIT_OK)


def _run_client(
    command: str, setup: ClientSetup, wanted: int | None, now: Callable[[], datetime]
) -> int:
    """One command on one client: its outcome line (and the alerts of a prune)."""
    notes: list[str] = []
    try:
        if command == "check":
            outcome = run_check(setup, now)
        elif command == "inspect":
            print(json.dumps(run_inspect(setup), indent=1, sort_keys=True))
            return EXIT_OK
        else:
            take_client_lock(setup.state_dir, setup.client)  # held until the process ends
            if command == "prune":
                outcome, notes = run_prune(setup, now)
            elif command == "init":
                outcome = run_init(reading(setup), now)  # lists only: see BorgTools.read_only
            elif command == "rollback":
                outcome = run_rollback(setup, wanted, now)
            elif command == "restore-key":
                outcome = run_restore_key(setup, now)
            else:
                outcome = run_acknowledge(setup, now)
    except (GuardFailure, LockBusy, StateError, SegmentError) as error:
        outcome = Outcome.failed(str(error))
    except KeyboardInterrupt as error:
        outcome = Outcome.failed(f"interrupted ({error or 'SIGINT'})")
    except OSError as error:
        outcome = Outcome.failed(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))
    for note in notes:
        report_line(setup.client, note, problem=True)
    line = report_line(setup.client, outcome.text, problem=outcome.status != "ok")
    if command == "prune":
        if outcome.status == "failed":
            _record_failure(setup, outcome, now())
        alerts = load_alerts(setup.state_dir)
        send_alerts(
            alerts, server=setup.server, client=setup.client, state=outcome.status, line=line
        )
    return outcome.exit_code


def _setups(clients: list[str], config: dict, program: tuple[str, str]) -> list | int:
    """The named clients' settings (every client's when none is named), or the exit code
    after saying what is wrong; sets the umask for what the command writes."""
    names = clients or sorted(config.get("clients") or {})
    try:
        setups = [client_setup(config, name, *program) for name in names]
    except UsageError as error:
        print(f"{MESSAGE_PREFIX}: {error}\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(f"{MESSAGE_PREFIX}: broken CONFIG in the guard: {error}", file=sys.stderr)
        return EXIT_FAILED
    os.umask(0o077)
    return setups


def drill_main(
    clients: list[str],
    config: dict,
    *,
    program: tuple[str, str],
    now: Callable[[], datetime],
) -> int:
    """`drill` (every client, the scheduled job) or `drill CLIENT`."""
    setups = _setups(clients, config, program)
    if isinstance(setups, int):
        return setups
    lock_wait = int(config.get("lock_wait") or 0)
    return run_drills(setups, config, now, lock_wait)


def check_all_main(
    clients: list[str],
    config: dict,
    *,
    program: tuple[str, str],
    now: Callable[[], datetime],
) -> int:
    """`check-all [CLIENT...]`: one line per client, as `check` prints it; exit 0 when every
    check passed, 3 when one refused, 1 when one failed."""
    setups = _setups(clients, config, program)
    if isinstance(setups, int):
        return setups
    outcomes = run_checks(setups, now)
    for client, outcome in outcomes.items():
        report_line(client, outcome.text, problem=outcome.status != "ok")
    return _worst([outcome.exit_code for outcome in outcomes.values()])


def fleet_main(
    argv: list[str],
    config: dict,
    *,
    program: tuple[str, str],
    now: Callable[[], datetime],
) -> int:
    """`status [--json]` and `health`: every client at once, read-only."""
    if argv not in (["status"], ["status", "--json"], ["health"]):
        print(f"{MESSAGE_PREFIX}: wrong arguments\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    moment = now()
    status = collect_status(config, *program, moment)
    if argv == ["status", "--json"]:
        print(json.dumps(status, indent=1, sort_keys=True))
        return EXIT_OK
    problems = health_problems(status)
    if argv == ["status"]:
        for client in status["clients"]:
            print(f"{client['name']}: {client['state']}")
        return EXIT_OK
    alerts = load_alerts(str(config.get("state_dir", "")))
    server = str(config.get("server", ""))
    for who, state, text in problems:
        line = report_line(who, f"{state}: {text}", problem=True)
        send_alerts(alerts, server=server, client=who, state=state, line=line, now=moment)
    if problems:
        return EXIT_REFUSED
    line = report_line("all", f"{len(status['clients'])} client(s) ok", problem=False)
    send_alerts(alerts, server=server, client="all", state="ok", line=line, now=moment)
    return EXIT_OK


def _record_failure(setup: ClientSetup, outcome: Outcome, moment: datetime) -> None:
    """Note a failure in the state's last_result (baseline untouched), if there is a state."""
    try:
        state = load_state(setup.state_dir, setup.client)
        if state is not None and (state.last_result or {}).get("message") != outcome.text:
            save_state(setup.state_dir, replace(state, last_result=result_record(outcome, moment)))
    except Exception:  # the failure itself was reported; the record is a courtesy
        pass


def _list_live(
    setup: ClientSetup, *, empty_log_is_empty: bool = False
) -> tuple[list, int | None, str | None]:
    """Restore a repository a killed run left hidden, then segment baseline and listing.
    `empty_log_is_empty`: a log that stores nothing but the manifest (a new repository) is
    an empty listing without a borg run."""
    recovered = recover_hidden_repository(setup.repository, setup.hidden)
    if recovered:
        report_line(setup.client, recovered, problem=True)
    if not os.path.isdir(setup.repository):
        raise GuardFailure(f"repository {setup.repository} does not exist")
    if empty_log_is_empty:
        boundary = empty_log_boundary(setup.repository)
        if boundary is not None:
            return [], boundary, recovered
    boundary = last_committed_segment(setup.repository)
    return setup.tools.list_archives(setup.repository), boundary, recovered


def run_init(setup: ClientSetup, now: Callable[[], datetime]) -> Outcome:
    """Record the current archives as the first baseline; refuse (2) when one exists."""
    path = guard_state_file(setup.state_dir, setup.client)
    if load_state(setup.state_dir, setup.client) is not None:
        return Outcome(
            "refused",
            f"a baseline is already recorded in {path}; to accept the repository as it is "
            f"now, run: {setup.command('acknowledge')}",
            EXIT_USAGE,
        )
    refused = _held_to_reference(setup, None, "record a baseline of")
    if isinstance(refused, Outcome):
        return refused
    listing, boundary, _ = _list_live(setup, empty_log_is_empty=True)
    kept = ""
    if read_reference(setup.repokey_copy) is None:
        where = os.path.join(setup.repository, "config")
        copy = export_text(read_config(setup.repository), where)
        write_private_file(setup.state_dir, setup.repokey_copy, copy)
        kept = f" and kept a copy of its key in {setup.repokey_copy}"
    moment = now()
    outcome = Outcome.ok(
        f"recorded a baseline of {len(listing)} archive(s) in {setup.repository}{kept}; from "
        "now on prune refuses if any of them is deleted or changed outside the guard"
    )
    state = GuardState(
        client=setup.client,
        repository=setup.repository,
        last_run=moment,
        archives=baseline_archives(listing, {}, moment, None),
        committed_segment=boundary,
        identity=refused,
    )
    save_state(setup.state_dir, replace(state, last_result=result_record(outcome, moment)))
    return outcome


def _held_to_reference(setup: ClientSetup, recorded: dict | None, what: str) -> dict | Outcome:
    """The live identity to record, or a refusal: held to the server's copy of the key when
    there is one (a key put back by apply, or re-exported by the operator, is accepted
    again), else to what the baseline recorded."""
    recovered = recover_hidden_repository(setup.repository, setup.hidden)
    if recovered:
        report_line(setup.client, recovered, problem=True)
    live = read_identity(setup.repository)
    reference = read_reference(setup.repokey_copy)
    problems = [
        identity_problem(None if reference else recorded, reference, live),
        nonce_problem(read_nonce(setup.repository)),
    ]
    problem = "; ".join(p for p in problems if p) or None
    if problem is None:
        return live
    return Outcome.refused(identity_refusal(setup.client, setup.repository, problem, what))


def run_acknowledge(setup: ClientSetup, now: Callable[[], datetime]) -> Outcome:
    """Accept the repository as it is now as the baseline; prunes nothing. Never a key
    that is not the server's copy (a key a client rewrote is put back, not accepted)."""
    recorded = load_state(setup.state_dir, setup.client)
    refused = _held_to_reference(setup, recorded.identity if recorded else None, "acknowledge")
    if isinstance(refused, Outcome):
        return refused
    listing, boundary, _ = _list_live(setup)
    state = load_or_migrate(setup, setup.repository, listing)
    if state is None:
        return Outcome(
            "refused",
            f"no baseline recorded for {setup.client}, nothing to acknowledge; record one "
            f"with: {setup.command('init')}",
            EXIT_USAGE,
        )
    touched = []
    if state.committed_segment is not None:
        touched = touched_objects(setup.repository, state.committed_segment)
    moment = now()
    listed = {archive.id for archive in listing}
    gone = [seen.name for i, seen in state.archives.items() if i not in listed]
    new = [archive for archive in listing if archive.id not in state.archives]
    outcome = Outcome.ok(
        f"acknowledged {setup.repository}: accepted as deleted: "
        f"{capped_names(gone) if gone else 'none'}; accepted {len(new)} new archive(s)"
        f"{f' and {len(touched)} changed stored object(s)' if touched else ''}; "
        "nothing pruned"
    )
    outcome.names = gone
    acknowledged = replace(
        state,
        archives=baseline_archives(listing, state.archives, moment, state.last_run),
        last_run=moment,
        committed_segment=boundary,
        identity=refused,
    )
    save_state(setup.state_dir, replace(acknowledged, last_result=result_record(outcome, moment)))
    return outcome
