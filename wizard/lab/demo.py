"""`borgkeep demo`: start the local lab and run Borgkeep on it.

With a terminal it opens the wizard on the lab's inventory; without one (or with
`--cli`) it runs plan, apply and verify from the command line, then makes a first backup
on every client through the crontab entry Borgkeep installed. Everything the demo writes
lives under the lab's directory, which is removed on exit unless `--keep`.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from wizard.lab.lab import Lab, LabError, start_lab

CRON_FIELDS = 5


def _point_engine_at(lab: Lab) -> dict[str, str]:
    """The operator side of the demo (ssh config, known_hosts, inventory, secrets) stays in
    the lab directory, so the demo never touches the real ~/.ssh or keyring."""
    env = {
        **lab.env(),
        "XDG_CONFIG_HOME": str(lab.base / "operator" / "config"),
        "XDG_DATA_HOME": str(lab.base / "operator" / "data"),
        "BORGKEEP_INVENTORY": str(lab.base / "operator" / "config" / "borgkeep" / "inventory.yaml"),
        "BORGKEEP_SECRETS": "file",
    }
    os.environ.update(env)
    return env


def cron_command(crontab_text: str) -> str | None:
    """The command of the first borgkeep cron line (after the five schedule fields)."""
    for line in crontab_text.splitlines():
        if re.match(r"^\s*[0-9*]", line) and "borgmatic" in line:
            return line.split(None, CRON_FIELDS)[CRON_FIELDS]
    return None


def first_backups(lab: Lab) -> list[str]:
    """Run each client's installed cron command by hand, as cron would."""
    report = []
    for host in lab.clients:
        user = None if host.login == "root" else host.login_user
        listing = lab.run(host.name, ["crontab", "-l"], user=user)
        command = cron_command(listing.stdout.decode())
        if not command:
            report.append(f"✗ {host.name}: no borgkeep cron entry found")
            continue
        result = lab.run_as_cron(host.name, command, user=user)
        mark = "✓" if result.returncode == 0 else "✗"
        report.append(
            f"{mark} {host.name}: first backup ({shlex.split(command)[0]} … create check)"
        )
    return report


def run_demo(
    keep: bool = False,
    cli_only: bool = False,
    open_wizard: Callable[[Path], int] | None = None,
) -> int:
    """`open_wizard(inventory_path)` is the launcher's: the lab never imports the wizard."""
    if os.geteuid() != 0:
        print(
            "borgkeep demo: the local lab needs root: it starts one sshd per lab host in its "
            "own mount namespace (unshare --mount) on 127.0.0.1 and creates lab users there.\n"
            "Run it as root, e.g.: sudo .venv/bin/borgkeep demo",
            file=sys.stderr,
        )
        return 1
    try:
        lab = start_lab(keep=keep)
    except LabError as exc:
        print(f"borgkeep demo: {exc}", file=sys.stderr)
        return 1
    try:
        env = _point_engine_at(lab)
        inventory = env["BORGKEEP_INVENTORY"]
        os.makedirs(os.path.dirname(inventory), exist_ok=True)
        with open(inventory, "w", encoding="utf-8") as handle:
            handle.write(lab.inventory_yaml())
        print(
            f"lab started in {lab.base}: server nas, clients "
            + ", ".join(h.name for h in lab.clients)
        )
        print(f"inventory: {inventory}")
        if cli_only or open_wizard is None or not sys.stdin.isatty() or not sys.stdout.isatty():
            return _run_cli_demo(lab, inventory)
        return open_wizard(Path(inventory))
    finally:
        if keep:
            print(
                f"lab kept in {lab.base} (ssh config: {lab.ssh_config}); stop its sshd "
                "processes by PID: " + " ".join(str(h.pid) for h in lab.hosts.values())
            )
        else:
            lab.stop()


def _run_cli_demo(lab: Lab, inventory: str) -> int:
    from wizard.cli import main

    print("\n$ borgkeep plan")
    main(["--inventory", inventory, "plan"])
    print("\n$ borgkeep apply --yes")
    code = main(["--inventory", inventory, "apply", "--yes"])
    if code != 0:
        return code
    print("\nFirst backups, run as cron would run them:")
    lines = first_backups(lab)
    print("\n".join(lines))
    print("\n$ borgkeep plan   (a second run changes nothing)")
    code = main(["--inventory", inventory, "plan"])
    return 0 if code == 0 and all(line.startswith("✓") for line in lines) else 1
