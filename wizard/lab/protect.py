"""The end of the demo: see the protection work, step by step, with the exact commands.

A client "deletes" one of its archives through its own (append-only) key, the server's
scheduled guard job — run as cron runs it — refuses to prune, `borgkeep status` says
`refused`, the alert reaches a local `NotificationReceiver`, and the operator acknowledges
with the guard's own command; the next backup and guard run are normal again.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import yaml

from wizard.inventory.parse import load_inventory
from wizard.inventory.settings import repository_url
from wizard.lab.lab import Lab
from wizard.lab.receiver import NotificationReceiver
from wizard.pipeline.facts import client_layout, server_layout
from wizard.pipeline.first_backup import managed_jobs
from wizard.remote.scripts import borg_env
from wizard.reports import first_backup_line, safe_text
from wizard.session import FleetSession, ServerUnavailable, StatusError, StatusReport

ALERT_PATHS = {"webhook": "/hook", "ntfy": "/ntfy/borgkeep-demo"}
STEPS = 8


def add_alerts(inventory: Path, receiver: NotificationReceiver) -> None:
    """Point the inventory's alerts (webhook and ntfy) at the receiver, before apply."""
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["alerts"] = {kind: receiver.url(path) for kind, path in ALERT_PATHS.items()}
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def lab_session(lab: Lab, inventory: Path) -> FleetSession:
    """A session on the lab's inventory, with the lab's ssh config and known_hosts."""
    return FleetSession(
        load_inventory(inventory), ssh_config_path=lab.ssh_config, known_hosts_path=lab.known_hosts
    )


class Demonstration:
    """One run of the demonstration; `ok` is False as soon as a step did not go as shown."""

    def __init__(self, lab: Lab, inventory: Path, receiver: NotificationReceiver) -> None:
        self.lab, self.inventory, self.receiver = lab, inventory, receiver
        self.ok = True
        self.step = 0

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def heading(self, text: str) -> None:
        self.step += 1
        self.say(f"\n[{self.step}/{STEPS}] {text}")

    def expect(self, good: bool, text: str) -> None:
        self.ok = self.ok and good
        self.say(f"  {'✓' if good else '✗'} {text}")

    def run(self, client: str, cli: Callable[[list[str]], int]) -> bool | None:
        """True when every step went as shown; None when nothing was applied yet."""
        with lab_session(self.lab, self.inventory) as session:
            try:
                report = session.status()
            except (ServerUnavailable, StatusError) as exc:
                self.say(f"\nNo protection to see yet: {safe_text(str(exc), False)}")
                return None
            session.gather()
            self.say(
                f"\nSee the protection work: {client} is compromised and deletes one of its "
                "archives through its own key; the server's guard refuses to prune, status "
                f"and the alerts (sent to {self.receiver.url('')}) say so, and you decide."
            )
            self._backups(session, client, report)
            borg_user = session.settings.borg_user
            self.heading("The server's scheduled guard job, run as cron runs it:")
            self._guard(client, borg_user, expected=0)
            self._attack(session, client)
            self.heading("The next scheduled guard run refuses to prune:")
            self.receiver.take()
            self._guard(client, borg_user, expected=3)
            self.heading("The operator looks:")
            self.say(f"  $ borgkeep --inventory {shlex.quote(str(self.inventory))} status")
            cli(["--inventory", str(self.inventory), "status"])
            state = next(c.state for c in session.status().clients if c.name == client)
            self.expect(state == "refused", f"{client} is {state}")
            self._alerts(client)
            self._acknowledge(session.status(), client)
            self.heading("Backups and pruning go on as before:")
            self.say(f"  {first_backup_line(session.first_backups([client])[client])}")
            self._guard(client, borg_user, expected=0)
            state = next(c.state for c in session.status().clients if c.name == client)
            self.expect(state == "ok", f"borgkeep status: {client} is {state}")
        return self.ok

    def _backups(self, session: FleetSession, client: str, report: StatusReport) -> None:
        self.heading(f"{client} backs up, as its cron job would (two archives: one to lose):")
        archives = next(c.archives for c in report.clients if c.name == client)
        for _ in range(max(0, 2 - archives)):
            outcome = session.first_backups([client])[client]
            self.say(f"  {client}$ {outcome.command}")
            self.expect(outcome.ok, first_backup_line(outcome)[2:])
        if archives >= 2:
            self.say(f"  {client} has {archives} archives already")

    def _guard(self, client: str, borg_user: str, expected: int) -> None:
        listing = self.lab.run("nas", ["crontab", "-l", "-u", borg_user]).stdout.decode()
        (job,) = [job for job in managed_jobs(listing) if f" prune {client} " in f"{job} "]
        self.say(f"  nas, {borg_user}'s crontab$ {job}")
        result = self.lab.run_as_cron("nas", job, user=borg_user)
        said = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        for line in said.splitlines()[-1:]:
            self.say(f"    {safe_text(line, False)}")
        words = {
            0: "the guard recorded the archives and pruned what the policy allows",
            3: "REFUSED: nothing pruned or compacted",
        }
        outcome = words.get(result.returncode, "failed")
        self.expect(result.returncode == expected, f"exit {result.returncode}: {outcome}")

    def _attack(self, session: FleetSession, client: str) -> None:
        self.heading(f"{client} is compromised: it deletes its oldest archive with its own key:")
        facts = session.facts[client]
        paths = client_layout(facts, client)
        repo = server_layout(session.facts[session.server_name], session.settings)
        url = repository_url(session.settings, repo.repository(client))
        env = borg_env(paths.key, paths.known_hosts, paths.passphrase)
        borg = facts.borg_path or "borg"
        user = None if facts.is_root else facts.login_user
        listed = self.lab.run(client, f"{env} {borg} list --short {shlex.quote(url)}", user=user)
        oldest = listed.stdout.decode().split()[0]
        command = f"{env} {borg} delete {shlex.quote(f'{url}::{oldest}')}"
        self.say(f"  {client}$ {command}")
        deleted = self.lab.run(client, command, user=user)
        self.expect(
            deleted.returncode == 0,
            f"Borg says {oldest} is deleted (append-only: the deletion is only recorded; "
            "every segment stays on disk)",
        )

    def _alerts(self, client: str) -> None:
        self.heading(
            f"The alerts the guard sent, as the receiver at {self.receiver.url('')} got them:"
        )
        received = self.receiver.take()
        for note in received:
            body = " ".join(safe_text(note.body, False).split())
            self.say(f"  POST {note.path}: {body[:200]}{' …' if len(body) > 200 else ''}")
        hooks = [n.json for n in received if n.path == ALERT_PATHS["webhook"] and n.json]
        refused = any(h.get("client") == client and h.get("state") == "refused" for h in hooks)
        self.expect(refused, f"the webhook says {client} was refused")

    def _acknowledge(self, report: StatusReport, client: str) -> None:
        self.heading("The operator decides: the archive is gone for good, accept it:")
        assert report.by_hand is not None
        self.say(f"  (to look first: {report.by_hand.list_archives(client)})")
        command = report.by_hand.guard("acknowledge", client)
        self.say(f"  nas# {command}")
        result = self.lab.run("nas", command)
        for line in (result.stdout or result.stderr).decode("utf-8", "replace").splitlines()[-1:]:
            self.say(f"    {safe_text(line, False)}")
        self.expect(result.returncode == 0, f"exit {result.returncode}: acknowledged")
