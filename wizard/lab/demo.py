"""`borgkeep demo`: start the local lab and run Borgkeep on it.

With a terminal it opens the wizard on the lab's inventory; without one (or with `--cli`) it
runs plan, apply and verify from the command line, makes a first backup on every client
through the crontab entry Borgkeep installed, and ends with the exact commands to back up,
list and restore by hand. Everything the demo writes lives under the lab's directory.

It ends with the protection demonstration (`wizard.lab.protect`): on by default with `--cli`,
offered with a question after the wizard, off with `--no-protect`. For it, the lab's
inventory sends its alerts to a local receiver that lives as long as the demo.

Without `--keep` the lab is stopped and removed when the demo ends. With `--keep` its hosts
keep running after the demo (`--stop DIR` stops them; the files stay until `rm -rf DIR`),
and `--resume DIR` brings a kept lab back — restarting stopped hosts from their files — with
one new host that is not in the inventory yet, to try the rerun story: add a host to an
applied fleet.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from wizard.lab.lab import Lab, LabError
from wizard.lab.protect import Demonstration, add_alerts, lab_session
from wizard.lab.receiver import NotificationReceiver
from wizard.lab.resume import (
    hosts_outside_the_fleet,
    relocate_repositories,
    resume_lab,
    stop_kept_lab,
)
from wizard.lab.start import start_lab
from wizard.pipeline.facts import HostFacts
from wizard.reports import client_commands, first_backup_line

PLAN_FILE = "demo.plan"
ENV_FILE = "env"


def operator_env(lab: Lab) -> dict[str, str]:
    """The operator side of the demo (ssh config, known_hosts, inventory, secrets) stays in
    the lab directory, so the demo never touches the real ~/.ssh or keyring."""
    return {
        **lab.env(),
        "XDG_CONFIG_HOME": str(lab.base / "operator" / "config"),
        "XDG_DATA_HOME": str(lab.base / "operator" / "data"),
        "XDG_CACHE_HOME": str(lab.base / "operator" / "cache"),
        "BORGKEEP_INVENTORY": str(lab.base / "operator" / "config" / "borgkeep" / "inventory.yaml"),
        "BORGKEEP_SECRETS": "file",
    }


def write_env_file(lab: Lab) -> Path:
    """`BASE/env`: what a shell sources so that every day-two command (`borgkeep status`,
    `plan`, `verify`, ...) acts on the kept lab, as the demo's own commands did."""
    lines = [
        "# Borgkeep kept lab: `. THIS_FILE`, then borgkeep status, plan, verify, ... act on",
        "# the lab (its ssh config, known_hosts, inventory and secrets; never your own).",
        *(f"export {key}={shlex.quote(value)}" for key, value in operator_env(lab).items()),
    ]
    path = lab.base / ENV_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def first_backups(lab: Lab, names: list[str] | None = None) -> list[str]:
    """Back up `names` (default: every client of the inventory) now, through the engine:
    each client's installed cron job, run as cron would (`FleetSession.first_backups`)."""
    inventory = Path(operator_env(lab)["BORGKEEP_INVENTORY"])
    with lab_session(lab, inventory) as session:
        outcomes = session.first_backups(names)
    return [first_backup_line(outcome) for outcome in outcomes.values()]


def try_it_yourself(lab: Lab, clients: list[str]) -> list[str]:
    """For each client: the exact ssh command lines (real paths) to back up now, list the
    archives and restore a file, built by the same function the wizard's done screen uses."""
    lines = []
    for name in clients:
        host = lab.hosts[name]
        facts = HostFacts(
            host=name,
            login_user=host.login_user,
            uid=0 if host.login == "root" else 1,
            home=host.home,
            borgmatic_path=host.borgmatic_path,
        )
        commands = client_commands(name, facts)
        sample = f"{host.source_directories[0]}/hello.txt"
        ssh = ["ssh", "-t", "-F", str(lab.ssh_config), host.alias]
        lines += [
            f"  {name} (logs in as {host.login_user}):",
            f"    back up now:    {shlex.join([*ssh, commands.backup])}",
            f"    list archives:  {shlex.join([*ssh, commands.list])}",
            f"    restore a file: {shlex.join([*ssh, commands.restore(sample)])}",
            f"                    (it lands in /tmp{sample} on {name})",
        ]
    return lines


def _stop_on_signals() -> None:
    """A closed terminal or a `kill` ends the demo like ctrl+c: the lab is cleaned up."""

    def leave(signum, frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)


def run_demo(
    keep: bool = False,
    cli_only: bool = False,
    open_wizard: Callable[[Path], int] | None = None,
    resume: Path | None = None,
    stop: Path | None = None,
    full: bool = False,
    protect: bool | None = None,
) -> int:
    """`open_wizard(inventory_path)` is the launcher's: the lab never imports the wizard.
    `protect`: end with the protection demonstration (None: yes with `--cli`, asked after
    the wizard); never on `--resume`, whose inventory was applied already."""
    if os.geteuid() != 0:
        print(
            "borgkeep demo: the local lab needs root: it starts one sshd per lab host in its "
            "own mount namespace (unshare --mount) on 127.0.0.1 and creates lab users there.\n"
            "Run it as root, e.g.: sudo .venv/bin/borgkeep demo",
            file=sys.stderr,
        )
        return 1
    if stop is not None:
        return _stop(stop)
    _stop_on_signals()
    try:
        lab, new_clients = _resume(resume) if resume else _start(keep)
    except LabError as exc:
        print(f"borgkeep demo: {exc}", file=sys.stderr)
        return 1
    keep = keep or resume is not None
    receiver = None
    try:
        inventory = operator_env(lab)["BORGKEEP_INVENTORY"]
        if protect and resume is not None:
            print("--protect: not on a resumed lab (its inventory was applied already)")
        if protect is not False and resume is None:
            receiver = NotificationReceiver().start()
            add_alerts(Path(inventory), receiver)
        if cli_only or open_wizard is None or not sys.stdin.isatty() or not sys.stdout.isatty():
            code = _run_cli_demo(lab, inventory, new_clients, full, keep)
            wanted = protect is not False
        else:
            if resume:
                print("add it in the wizard: tick it on the Clients screen")
            code = open_wizard(Path(inventory))
            wanted = protection_wanted(protect, receiver is not None and code == 0, _ask)
        if receiver is not None and wanted and code == 0:
            from wizard.cli import main

            shown = Demonstration(lab, Path(inventory), receiver).run(lab.clients[0].name, main)
            code = 1 if shown is False else code
        return code
    finally:
        if receiver is not None:
            receiver.stop()
        if keep:
            lab.detach()
            env = write_env_file(lab)
            exports = [line for line in env.read_text().splitlines() if line.startswith("export")]
            print(
                f"\nThe lab keeps running in {lab.base} (ssh config: {lab.ssh_config}).\n"
                f"  use it:      . {env}   (then borgkeep status, borgkeep plan, borgkeep "
                "verify, ... act on the lab); it sets:\n"
                + "".join(f"    {line}\n" for line in exports)
                + f"  back to it:  borgkeep demo --resume {lab.base}   (adds a host to try)\n"
                f"  stop it:     borgkeep demo --stop {lab.base}     (its files stay)\n"
                f"  remove it:   borgkeep demo --stop {lab.base} && rm -rf {lab.base}"
            )
        else:
            lab.stop()


def protection_wanted(protect: bool | None, possible: bool, ask: Callable[[str], bool]) -> bool:
    """After the wizard: show the protection work? Never asked where it cannot run (a
    resumed lab has no receiver, or the wizard did not end well); asked unless `protect`
    already says."""
    if not possible:
        return False
    return protect if protect is not None else ask("See the protection work now?")


def _ask(question: str) -> bool:
    try:
        answer = input(f"\n{question} [Y/n] ").strip().lower()
    except EOFError:
        return False
    return answer in ("", "y", "yes")


def _start(keep: bool) -> tuple[Lab, list[str]]:
    lab = start_lab(keep=keep)
    env = operator_env(lab)
    os.environ.update(env)
    inventory = Path(env["BORGKEEP_INVENTORY"])
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_text(lab.inventory_yaml(), encoding="utf-8")
    print(
        f"lab started in {lab.base}: server nas, clients {', '.join(h.name for h in lab.clients)}"
    )
    print(f"inventory: {inventory}")
    return lab, [host.name for host in lab.clients]


def _resume(base: Path) -> tuple[Lab, list[str]]:
    """The kept lab, running; one host not in the inventory yet (added if there is none)."""
    lab, moved = resume_lab(base.resolve())
    env = operator_env(lab)
    os.environ.update(env)
    inventory = Path(env["BORGKEEP_INVENTORY"])
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    print(f"lab resumed from {lab.base}")
    if "nas" in moved:
        old, new = moved["nas"]
        data["server"]["address"] = f"127.0.0.1:{new}"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        relocate_repositories(lab, old, new)
        print(
            f"the server's port {old} was taken, so it now listens on {new}: the inventory's "
            "address follows, the plan updates each client's repository URL and pinned host "
            "key, and each client's Borg was told that its repository moved (as answering "
            "yes to Borg's relocated-repository question would)"
        )
    spare = hosts_outside_the_fleet(lab.clients, data.get("clients") or [], lab.ssh_config)
    if not spare:
        number = len(lab.clients) + 1
        while f"client{number}" in lab.hosts:
            number += 1
        spare = [lab.add_client(f"client{number}", "root", "1.7").name]
        lab.save_description()
    aliases = ", ".join(lab.hosts[name].alias for name in spare)
    print(f"not in the fleet yet: {', '.join(spare)} ({aliases} in the lab's ssh config)")
    return lab, spare


def _stop(base: Path) -> int:
    try:
        stopped = stop_kept_lab(base.resolve())
    except LabError as exc:
        print(f"borgkeep demo: {exc}", file=sys.stderr)
        return 1
    print(
        f"stopped {stopped} lab host(s) of {base}; their files stay "
        f"(bring them back with: borgkeep demo --resume {base}; remove them with: rm -rf {base})"
    )
    return 0


def _add_to_inventory(lab: Lab, inventory: str, names: list[str]) -> None:
    """Add the lab hosts `names` that no entry reaches yet (by name or by login)."""
    data = yaml.safe_load(Path(inventory).read_text(encoding="utf-8"))
    hosts = [lab.hosts[name] for name in names]
    for name in hosts_outside_the_fleet(hosts, data.get("clients") or [], lab.ssh_config):
        data.setdefault("clients", []).append(
            {
                "name": name,
                "ssh": lab.hosts[name].ssh,
                "source_directories": lab.hosts[name].source_directories,
            }
        )
    Path(inventory).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _run_cli_demo(lab: Lab, inventory: str, new: list[str], full: bool, keep: bool) -> int:
    """The plan once (long programs summarised unless `full`), apply exactly that plan, the
    first backups, a second plan that changes nothing, and what to try by hand."""
    from wizard.cli import main

    _add_to_inventory(lab, inventory, new)
    plan_file = lab.base / "operator" / PLAN_FILE
    brief = [] if full else ["--brief"]
    plan_args = ["plan", *brief, "--out", str(plan_file)]
    print(f"\n$ borgkeep {shlex.join(plan_args)}")
    code = main(["--inventory", inventory, *plan_args])
    if code not in (0, 2):
        return code
    print(f"\n$ borgkeep apply {plan_file}")
    code = main(["apply", str(plan_file)])
    if code != 0:
        return code
    print("\nFirst backups, run as cron would run them:")
    lines = first_backups(lab, new)
    print("\n".join(lines))
    print("\n$ borgkeep plan   (a second run changes nothing)")
    code = main(["--inventory", inventory, "plan", *brief])
    print("\nWhat happened:")
    print(
        f"  nas: the borg user, {len(lab.clients)} repositories under /srv/backups, one "
        "append-only key line per client in /home/borg/.ssh/authorized_keys, and the prune "
        "guard in borg's crontab (prune and compact run there, as borg, never on a client)"
    )
    print(
        f"  {', '.join(new)}: a key of its own, the server's pinned host key, a create+check "
        "borgmatic config, a crontab entry, and a first backup"
    )
    status = "keeps running after this demo" if keep else "stops when this demo ends"
    print(f"Try it yourself (the lab {status}):")
    print("\n".join(try_it_yourself(lab, new)))
    return 0 if code == 0 and all(line.startswith("✓") for line in lines) else 1
