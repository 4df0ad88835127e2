"""Day two, as `FleetSession` offers it: the fleet's health from the server alone, and the
first backups run now instead of waiting for cron (`wizard.pipeline.status`,
`wizard.pipeline.first_backup`)."""

from __future__ import annotations

from collections.abc import Collection

from wizard.pipeline.apply import EventSink
from wizard.pipeline.first_backup import FirstBackup
from wizard.pipeline.first_backup import first_backups as run_first_backups
from wizard.pipeline.host_basics import gather_basic
from wizard.pipeline.identity import server_identity
from wizard.pipeline.status import (
    StatusError,
    StatusReport,
    guard_by_hand,
    parse_status,
    status_command,
)
from wizard.remote.errors import ServerUnavailable


class DayTwoActions:
    """Mixin for `FleetSession` (which provides the connections, facts and settings)."""

    def first_backups(
        self, clients: Collection[str] | None = None, on_event: EventSink | None = None
    ) -> dict[str, FirstBackup]:
        """Back up now: each client's installed cron job, run as cron would, in parallel
        (bounded); every client not left out, or `clients`. Gathers first if needed."""
        if not self.facts:
            self.gather()
        if clients is None:
            clients = [c.name for c in self.inventory.clients if c.name not in self.left_out]
        sink = on_event or self.on_event
        return run_first_backups(
            self.inventory, self.facts, self.errors, self._connect, clients, sink, self.max_parallel
        )

    def status(self) -> StatusReport:
        """The fleet's health from the server alone (one connection, two commands): works
        when every client is down. Raises `ServerUnavailable` or `StatusError`."""
        self.resolve_targets()
        assert self.settings is not None
        try:
            conn = self._connect(self.server_name)
            facts = gather_basic(conn, self.server_name, users=[self.settings.borg_user])
        except Exception as exc:
            raise ServerUnavailable(f"{self.server_name}: {exc}") from exc
        user = self.settings.borg_user
        if user not in facts.users and user != facts.login_user:
            raise StatusError(
                f"{self.server_name}: nothing is set up there yet (no user {user}; "
                "`borgkeep apply` creates it)"
            )
        borg = server_identity(facts, self.settings).as_user(self.settings.borg_user)
        result = conn.run(borg.wrap(status_command(facts, self.settings)))
        if result.rc != 0:
            why = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise StatusError(
                f"{self.server_name}: the guard could not report (exit {result.rc}): "
                + (why[-1] if why else "no output")
                + " — has `borgkeep apply` installed it?"
            )
        by_hand = guard_by_hand(facts, self.settings, borg, self.inventory.server.ssh)
        return parse_status(result.stdout.decode("utf-8", "replace"), self.inventory, by_hand)
