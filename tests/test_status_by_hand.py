"""What the welcome screen (and anyone else) tells the operator to type on the server about one
client: built from the server's facts and layout, as the borg user, escaped."""

from __future__ import annotations

import json
import shlex
from datetime import datetime

from tests.planning import server_facts
from wizard.inventory.parse import parse_inventory
from wizard.inventory.settings import resolve_server
from wizard.pipeline.facts import UserInfo
from wizard.pipeline.status import guard_by_hand, parse_status
from wizard.remote.identity import DIRECT, RUNUSER, SUDO, RunAs
from wizard.reports import render_status_text, server_space_line, what_to_do_lines

INVENTORY = parse_inventory(
    "version: 1\nserver: {name: nas, ssh: root@nas.lan, repo_root: /srv/backups}\n"
    "retention: {keep_daily: 7}\nclients:\n"
    "  - {name: host1, ssh: host1, source_directories: [/etc]}\n"
    "  - {name: host2, ssh: host2, source_directories: [/etc]}\n"
)
FACTS = server_facts(
    python_path="/usr/bin/python3", users={"borg": UserInfo("borg", 999, 999, "/home/borg")}
)
SETTINGS = resolve_server(INVENTORY, "root", "nas.lan", 22)
GUARD = "/usr/bin/python3 -I /home/borg/.config/borgkeep/guard.py"
GUARD_JSON = {
    "time": "2026-03-10T12:00:00+00:00",
    "server": {"name": "nas", "repo_root": "/srv/backups", "free": 5 * 2**30,
               "total": 20 * 2**30, "low_space": False},
    "clients": [
        {"name": "host1", "state": "ok", "archives": 3, "problems": []},
        {"name": "host2", "state": "refused", "archives": 2, "problems": [
            "the guard refused at 2026-03-10T07:30:00+00:00: REFUSING \x1b[2J (archives: x)"]},
    ],
}  # fmt: skip


def _report(via: str = RUNUSER):
    by_hand = guard_by_hand(FACTS, SETTINGS, RunAs("borg", "/home/borg", via), "root@nas.lan")
    return parse_status(json.dumps(GUARD_JSON), INVENTORY, by_hand)


def test_the_commands_run_the_installed_guard_and_borg_as_the_borg_user():
    by_hand = _report().by_hand
    assert by_hand.guard("acknowledge", "host2") == f"runuser -u borg -- {GUARD} acknowledge host2"
    listing = shlex.split(by_hand.list_archives("host2"))
    assert listing == [
        "runuser", "-u", "borg", "--", "env",
        "BORG_PASSCOMMAND=cat /home/borg/.config/borgkeep/host2.passphrase",
        "/usr/bin/borg", "list", "/srv/backups/host2",
    ]  # fmt: skip
    assert _report(SUDO).by_hand.guard("check", "host1") == f"sudo -u borg -- {GUARD} check host1"
    assert _report(DIRECT).by_hand.guard("check", "host1") == f"{GUARD} check host1"


def test_a_refused_client_is_told_how_to_look_and_how_to_acknowledge():
    report = _report()
    refused = next(c for c in report.clients if c.name == "host2")
    text = "\n".join(what_to_do_lines(report, refused))
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert "ssh root@nas.lan" in text
    assert f"runuser -u borg -- {GUARD} check host2" in text
    assert f"runuser -u borg -- {GUARD} acknowledge host2" in text
    ok = next(c for c in report.clients if c.name == "host1")
    assert "acknowledge" not in "\n".join(what_to_do_lines(report, ok))


def test_the_cli_text_keeps_its_words():
    report = _report()
    assert server_space_line(report) == "server nas: 5.0 GiB free of 20.0 GiB at /srv/backups"
    text = render_status_text(report, datetime.fromisoformat(report.time))
    assert text.splitlines()[1].split()[1] == "host2"
    assert text.endswith("server nas: 5.0 GiB free of 20.0 GiB at /srv/backups\n"
                         "1 client(s) need attention\n")  # fmt: skip
