"""The whole wizard against the real lab: new setup through verify, then a rerun that adds a
client. Also checks that no screen of the run ever shows a repository passphrase."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Input, SelectionList, Tree

from screens.app import BorgkeepApp
from screens.apply import ApplyScreen
from screens.clients import ClientsScreen
from screens.done import DoneScreen
from screens.modals import HostKeyModal
from screens.retention import RetentionScreen
from screens.review import ReviewScreen
from screens.server import ServerScreen
from wizard.lab import start_lab
from wizard.secrets_store import SecretStore, passphrase_name

pytestmark = pytest.mark.lab
SIZE = (100, 36)
REVIEW_SVG = Path(__file__).resolve().parents[2] / "assets" / "screenshots" / "review.svg"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if os.geteuid() != 0:
        pytest.skip("the local lab needs root")
    lab = start_lab(clients=[("client1", "root", "1.7"), ("client2", "root", "2")])
    try:
        for key, value in lab.env().items():
            monkeypatch.setenv(key, value)
        lab.forget_host_keys()  # first contact: the wizard must ask
        yield lab
    finally:
        lab.stop()


async def wait_for(pilot, condition, what: str, seconds: float = 120) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what} (screen: {pilot.app.screen})")


class ScreenRecorder:
    def __init__(self, app: BorgkeepApp) -> None:
        self.app, self.shots = app, []

    def take(self) -> None:
        self.shots.append(self.app.export_screenshot())


async def accept_host_keys(pilot, recorder: ScreenRecorder, done) -> int:
    """Answer every host-key prompt with yes until `done()`; return how many were asked."""
    asked = 0
    for _ in range(1200):
        if isinstance(pilot.app.screen, HostKeyModal):
            recorder.take()
            asked += 1
            await pilot.press("y")
        if done():
            return asked
        await pilot.pause(0.1)
    raise AssertionError("timed out")


async def drive_to_review(pilot, lab, clients: list[str], rec: ScreenRecorder) -> int:
    app = pilot.app
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, ServerScreen), "server screen")
    screen = app.screen
    asked = 0
    if not app.state.server_ssh:
        screen.query_one("#server-ssh", Input).value = lab.server.ssh
        screen.query_one("#server-name", Input).value = "nas"
        screen.query_one("#repo-root", Input).value = "/srv/backups"
        screen.query_one("#server-address", Input).value = f"127.0.0.1:{lab.server.port}"
        await pilot.pause()
        await pilot.press("ctrl+o")
    asked += await accept_host_keys(pilot, rec, lambda: app.state.server_facts is not None)
    rec.take()
    assert "borg" in str(screen.query_one("#server-facts").render())
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen), "clients screen")
    screen = app.screen
    picker = screen.query_one(SelectionList)
    for name in clients:
        picker.select(lab.hosts[name].ssh)
        await pilot.pause()
        alias = lab.hosts[name].ssh

        def checked(alias=alias):
            client = next((c for c in app.state.clients if c.ssh == alias), None)
            return client is not None and (client.facts or client.error)

        asked += await accept_host_keys(pilot, rec, checked)
        client = next(c for c in app.state.clients if c.ssh == alias)
        assert client.error is None, client.error
        client.source_directories = list(lab.hosts[name].source_directories)
    rec.take()
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, RetentionScreen), "retention")
    rec.take()
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), "review")
    asked += await accept_host_keys(pilot, rec, lambda: app.state.plan is not None)
    await pilot.pause()
    rec.take()
    return asked


async def apply_and_verify(pilot, rec: ScreenRecorder) -> None:
    app = pilot.app
    await pilot.press("ctrl+n")  # Apply… → confirm
    await pilot.pause()
    await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(app.screen, ApplyScreen), "apply screen")
    await wait_for(pilot, lambda: app.state.apply_result is not None, "apply", 300)
    await pilot.pause()
    rec.take()
    result = app.state.apply_result
    assert result.ok, {h: str(o.error) for h, o in result.outcomes.items()}
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, DoneScreen), "done screen")
    await wait_for(pilot, lambda: app.state.verify_report is not None, "verify", 300)
    await pilot.pause()
    rec.take()


async def test_new_setup_then_rerun_adding_a_client(lab, tmp_path: Path):
    inventory_path = tmp_path / "inventory.yaml"
    app = BorgkeepApp(inventory_path)
    async with app.run_test(size=SIZE) as pilot:
        rec = ScreenRecorder(app)
        rec.take()
        asked = await drive_to_review(pilot, lab, ["client1"], rec)
        assert asked == 2  # server and client1, each once; review reuses the recorded keys
        # The README's screenshot is refreshed on request only, so a test run leaves the
        # tree clean: BORGKEEP_UPDATE_SCREENSHOTS=1 pytest tests/screens/test_lab_flow.py
        shot = REVIEW_SVG if os.environ.get("BORGKEEP_UPDATE_SCREENSHOTS") else tmp_path / "r.svg"
        tree = app.screen.query_one(Tree)
        keys = next(n for n in tree.root.children[0].children if "authorized_keys" in str(n.label))
        tree.move_cursor(keys)  # the README shows a key line, wrapped
        await pilot.pause()
        app.save_screenshot(str(shot))
        assert "authorized_keys" in shot.read_text()
        await apply_and_verify(pilot, rec)
        report = app.state.verify_report
        assert report.proofs and report.ok, [p for p in report.proofs if not p.ok]
        assert "proofs passed" in str(app.screen.query_one("#verify-summary").render())
        await pilot.press("ctrl+n")
    assert app.return_code == 0
    assert inventory_path.exists()
    passphrase = SecretStore().get(passphrase_name("nas", "lab-client1"))
    assert passphrase and len(passphrase) >= 20
    assert not any(passphrase in shot for shot in rec.shots)

    # rerun: the saved inventory, one more client; the review shows only additions
    app = BorgkeepApp(inventory_path)
    async with app.run_test(size=SIZE) as pilot:
        rec = ScreenRecorder(app)
        assert [c.name for c in app.state.clients] == ["lab-client1"]
        await drive_to_review(pilot, lab, ["client2"], rec)
        plan = app.state.plan
        assert {c.host for c in plan.changes} == {"nas", "lab-client2"}
        assert all(
            c.action == "create" or c.kind == "command" or c.host == "nas" for c in plan.changes
        )
        for change in plan.changes:
            if change.host == "nas" and change.action == "update":
                removed = [
                    line
                    for line in change.diff.splitlines()
                    if line.startswith("-") and not line.startswith("---")
                ]
                assert removed == [], change.diff
        await apply_and_verify(pilot, rec)
        assert app.state.verify_report.ok
    second = SecretStore().get(passphrase_name("nas", "lab-client2"))
    assert second and not any(second in shot or passphrase in shot for shot in rec.shots)
