"""First backups on the lab: `FleetSession.first_backups` runs the job Borgkeep installed in
each client's crontab, as that client's login, the way cron runs it; the archives land on the
server, the guard's check counts them, and the wizard's welcome screen shows a client that
never backed up first. A crontab without the job runs nothing."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from screens.app import BorgkeepApp
from screens.welcome import WelcomeScreen
from tests.e2e.helpers import (
    archives,
    crontab_text,
    files_not_owned_by_borg,
    inventory_text,
    login_of,
    make_operator,
)
from wizard.inventory.parse import load_inventory
from wizard.session import FleetSession

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    from wizard.lab import start_lab

    lab = start_lab(
        base=tmp_path_factory.mktemp("lab"),
        clients=[("client1", "root", "1.7"), ("client2", "user", "2")],
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            operator = make_operator(lab, tmp_path_factory.mktemp("operator"))
            for key, value in operator.env().items():
                patch.setenv(key, value)
            operator.write_inventory(inventory_text(lab))
            result = operator.run("apply", "--yes", "--no-verify")
            assert result.returncode == 0, result.describe()
            yield lab, operator
    finally:
        lab.stop()


def session_of(operator) -> FleetSession:
    return FleetSession(load_inventory(operator.inventory))


def test_a_first_backup_runs_the_installed_job_as_the_login(applied):
    lab, operator = applied
    events = []
    with session_of(operator) as session:
        outcomes = session.first_backups(["client1"], on_event=lambda *e: events.append(e))
    assert list(outcomes) == ["client1"]
    outcome = outcomes["client1"]
    assert outcome.ok, outcome
    assert outcome.command in crontab_text(lab, "client1", "root")
    assert outcome.command.endswith(" create check")
    assert [e[:2] for e in events] == [("client1", "step"), ("client1", "done")]
    (made,) = archives(lab, "client1")
    assert made[0].startswith("client1-")
    assert archives(lab, "client2") == []
    assert files_not_owned_by_borg(lab) == []


async def test_the_welcome_screen_shows_the_client_that_never_backed_up_first(applied):
    _, operator = applied
    app = BorgkeepApp(operator.inventory)
    async with app.run_test(size=(100, 32)) as pilot:
        for _ in range(600):
            await pilot.pause(0.1)
            if app.state.status is not None:
                break
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WelcomeScreen)
        table = screen.query_one("#status-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert [row[1:3] for row in rows] == [["client2", "never"], ["client1", "ok"]]
        assert rows[0][3] == "never" and rows[1][3].endswith("min ago")
        detail = str(screen.query_one("#status-detail").render())
        assert detail.startswith("client2: never backed up")
        assert "free of" in str(screen.query_one("#server-space").render())


def test_every_client_backs_up_and_the_guard_counts_the_archives(applied):
    lab, operator = applied
    with session_of(operator) as session:
        outcomes = session.first_backups()
        assert [o.ok for o in outcomes.values()] == [True, True], outcomes
        report = session.verify()
    assert len(archives(lab, "client1")) == 2 and len(archives(lab, "client2")) == 1
    checks = {p.name: p for p in report.proofs if p.name.startswith("the guard's check")}
    assert checks["the guard's check for client1"].detail.endswith(
        ": ok; 2 archive(s); prune would keep 2 and remove 0"
    )
    assert checks["the guard's check for client2"].detail.endswith(
        ": ok; 1 archive(s); prune would keep 1 and remove 0"
    )
    assert report.ok, [p for p in report.proofs if not p.ok]
    assert files_not_owned_by_borg(lab) == []


def test_a_crontab_without_the_job_runs_nothing(applied):
    lab, operator = applied
    user = login_of(lab, "client2")
    original = crontab_text(lab, "client2", user)
    edited = "\n".join(line for line in original.splitlines() if "borgmatic" not in line) + "\n"
    lab.run("client2", ["crontab", "-u", user, "-"], input=edited.encode(), check=True)
    try:
        with session_of(operator) as session:
            outcome = session.first_backups(["client2"])["client2"]
        assert not outcome.ok
        assert "crontab does not hold Borgkeep's backup job for client2" in outcome.detail
        assert len(archives(lab, "client2")) == 1
    finally:
        lab.run("client2", ["crontab", "-u", user, "-"], input=original.encode(), check=True)
