"""The guard program's renderer and its host-side pieces that need no borg: CONFIG checks,
commands, the one-file transformation, state, segment log, prune output, repository
hiding, alerts and the command line."""

from __future__ import annotations

import ast
import http.server
import json
import os
import re
import struct
import threading
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.artefacts.guard_program import (
    GUARD_MODULES,
    HOSTSIDE_DIR,
    check_guard_config,
    fleet_command,
    guard_command,
    guard_program_path,
    guard_state_path,
    installed_guard_config,
    render_guard_program,
)
from wizard.artefacts.managed_block import MANAGED_HEADER
from wizard.hostside.guard_borg import (
    GuardFailure,
    hidden_path_of,
    hidden_repository_path,
    hide_repository,
    parse_prune_list,
    recover_hidden_repository,
    restore_repository,
    substitute_repository,
    take_repository_lock,
)
from wizard.hostside.guard_decision import ListedArchive, RecordedArchive
from wizard.hostside.guard_health import health_problems, server_space
from wizard.hostside.guard_main import main
from wizard.hostside.guard_notify import send_alerts
from wizard.hostside.guard_segments import last_committed_segment, touched_objects
from wizard.hostside.guard_setup import ConfigError, client_setup
from wizard.hostside.guard_state import (
    GuardState,
    load_state,
    migrate_old_state,
    read_old_state,
    save_state,
)
from wizard.inventory.validation import FieldError

CONFIG = {
    "server": "nas",
    "borg": "/usr/bin/borg",
    "borgmatic": "/usr/bin/borgmatic",
    "state_dir": "/home/borg/.config/borgkeep",
    "repo_root": "/backups",
    "lock_wait": 600,
    "clock_skew": 3600,
    "clients": {
        "host1": {
            "prefix": "host1-",
            "retention": {"keep_daily": 7, "keep_within": "2d"},
            "max_new_per_day": 6,
            "stale_after": 172800,
            "quota": 0,
            "prune_config": "/home/borg/.config/borgkeep/prune-host1.yaml",
            "passphrase_file": "/home/borg/.config/borgkeep/host1.passphrase",
        }
    },
}
NOW = datetime(2026, 3, 10, 5, 30, tzinfo=UTC)


# --- rendering -----------------------------------------------------------------------------------


def test_the_program_is_one_deterministic_file_with_config_after_the_header() -> None:
    program = render_guard_program(CONFIG)
    assert program == render_guard_program(json.loads(json.dumps(CONFIG)))
    assert program.startswith(MANAGED_HEADER)
    header, _, rest = program.partition("from __future__ import annotations\n")
    assert all(line.startswith("#") for line in header.splitlines())
    assert rest.startswith("\nCONFIG = {\n")
    assert program.count("from __future__ import") == 1
    assert not re.search(r"^\s*(from|import) wizard\b", program, re.MULTILINE)
    tree = ast.parse(program, feature_version=(3, 9))  # the server's python3 may be old
    config_node = next(n for n in tree.body if isinstance(n, ast.Assign))
    assert ast.literal_eval(config_node.value) == CONFIG
    assert program.rstrip().endswith("main(sys.argv[1:], CONFIG, program=(sys.executable, os.path.abspath(sys.argv[0])))\n    )".rstrip())  # fmt: skip


def test_module_names_are_unique_and_intra_package_imports_one_line_each() -> None:
    owners: dict[str, list[str]] = {}
    for module in GUARD_MODULES:
        text = (HOSTSIDE_DIR / f"{module}.py").read_text()
        for node in ast.parse(text).body:
            names = []
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.ImportFrom) and node.module.startswith("wizard"):
                assert len(node.names) == 1 and node.end_lineno == node.lineno, module
                assert node.module.removeprefix("wizard.hostside.") in GUARD_MODULES
                assert GUARD_MODULES.index(node.module.rsplit(".", 1)[1]) < GUARD_MODULES.index(
                    module
                ), f"{module} imports from a later module"
            for name in names:
                owners.setdefault(name, []).append(module)
    assert {name: mods for name, mods in owners.items() if len(mods) > 1} == {}
    assert sorted(p.stem for p in HOSTSIDE_DIR.glob("guard_*.py")) == sorted(GUARD_MODULES)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"borg": "borg"}, "borg"),
        ({"repo_root": "/srv/../etc"}, "repo_root"),
        ({"lock_wait": True}, "lock_wait"),
        ({"clock_skew": -1}, "clock_skew"),
        ({"server": "Nas"}, "server"),
        ({"extra": 1}, "config"),
        ({"clients": {"Host1": {}}}, "clients"),
        ({"clients": {"host1": {**CONFIG["clients"]["host1"], "prefix": "h*"}}}, "clients.host1.prefix"),
        ({"clients": {"host1": {**CONFIG["clients"]["host1"], "retention": {}}}}, "clients.host1.retention"),
        ({"clients": {"host1": {**CONFIG["clients"]["host1"], "max_new_per_day": 0}}}, "clients.host1.max_new_per_day"),
    ],
)  # fmt: skip
def test_render_refuses_a_bad_config(change: dict, field: str) -> None:
    with pytest.raises(FieldError) as error:
        check_guard_config({**CONFIG, **change})
    assert error.value.field == field


CONFIG_LITERAL_BEFORE_REPOSITORY = """\
CONFIG = {
 "borg": "/usr/bin/borg",
 "borgmatic": "/usr/bin/borgmatic",
 "clients": {
  "host1": {
   "max_new_per_day": 6,
   "passphrase_file": "/home/borg/.config/borgkeep/host1.passphrase",
   "prefix": "host1-",
   "prune_config": "/home/borg/.config/borgkeep/prune-host1.yaml",
   "quota": 0,
   "retention": {
    "keep_daily": 7,
    "keep_within": "2d"
   },
   "stale_after": 172800
  }
 },
 "clock_skew": 3600,
 "lock_wait": 600,
 "repo_root": "/backups",
 "server": "nas",
 "state_dir": "/home/borg/.config/borgkeep"
}
"""
"""CONFIG's literal as rendered before clients could have their own `repository`."""


def test_a_config_without_repository_renders_exactly_as_before() -> None:
    program = render_guard_program(CONFIG)
    assert "\n" + CONFIG_LITERAL_BEFORE_REPOSITORY + "\n\n# ---- guard_text.py" in program
    assert '"repository"' not in program.partition("# ---- guard_text.py")[0]
    assert check_guard_config(CONFIG) == CONFIG


OUTSIDE = "/data/zfs/backups/host1"


def _with_clients(**entries: dict) -> dict:
    """CONFIG with host1 changed by entries["host1"] and further clients like host1."""
    clients = {name: {**CONFIG["clients"]["host1"], **change} for name, change in entries.items()}
    return {**CONFIG, "clients": clients}


def test_a_client_may_keep_its_repository_outside_the_repo_root() -> None:
    config = _with_clients(host1={"repository": OUTSIDE}, host2={})
    assert check_guard_config(config)["clients"]["host1"]["repository"] == OUTSIDE
    program = render_guard_program(config)
    assert installed_guard_config(program)["clients"]["host1"]["repository"] == OUTSIDE
    assert "repository" not in installed_guard_config(program)["clients"]["host2"]
    adopted = client_setup(config, "host1", "/usr/bin/python3", "/g")
    assert (adopted.repository, adopted.hidden) == (
        OUTSIDE,
        "/data/zfs/backups/.host1.borgkeep-guard",
    )
    default = client_setup(config, "host2", "/usr/bin/python3", "/g")
    assert (default.repository, default.hidden) == (
        "/backups/host2",
        "/backups/.host2.borgkeep-guard",
    )


def test_the_hidden_path_is_beside_the_repository() -> None:
    assert (
        hidden_path_of("/data/zfs/backups/old-host") == "/data/zfs/backups/.old-host.borgkeep-guard"
    )
    assert hidden_repository_path("/backups", "host1") == "/backups/.host1.borgkeep-guard"
    assert hidden_repository_path("/", "host1") == "/.host1.borgkeep-guard"
    assert hidden_repository_path("/backups/", "host1") == "/backups/.host1.borgkeep-guard"


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ({"host1": {"repository": "data/host1"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/data/../etc"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/data/./host1"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/data//host1"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/data/host1/"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/data/host 1"}}, "clients.host1.repository"),
        ({"host1": {"repository": 7}}, "clients.host1.repository"),
        ({"host1": {"repository": "/"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/backups"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/home/borg/.config/borgkeep/host1"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/home/borg"}}, "clients.host1.repository"),
        ({"host1": {"repository": "/backups/host2"}, "host2": {}}, "clients.host1.repository"),
        ({"host1": {}, "host2": {"repository": "/backups/host1/inner"}}, "clients.host2.repository"),
        ({"host1": {"repository": OUTSIDE}, "host2": {"repository": OUTSIDE}}, "clients.host2.repository"),
        ({"host1": {"repository": "/data"}, "host2": {"repository": OUTSIDE}}, "clients.host2.repository"),
        ({"host1": {"repository": "/data/.x.borgkeep-guard"}, "host2": {"repository": "/data/x"}}, "clients.host2.repository"),
        ({"host1": {"repository": OUTSIDE, "repo": OUTSIDE}}, "clients.host1"),
    ],
)  # fmt: skip
def test_a_bad_repository_is_refused_naming_the_field(entries: dict, field: str) -> None:
    with pytest.raises(FieldError) as error:
        check_guard_config(_with_clients(**entries))
    assert error.value.field == field


def test_the_guard_itself_refuses_a_mangled_repository() -> None:
    for bad in ("data/host1", "/data/../host1", "/data/host1/", "/"):
        config = _with_clients(host1={"repository": bad})
        with pytest.raises(ConfigError, match=r"\['repository'\]"):
            client_setup(config, "host1", "/usr/bin/python3", "/g")


def test_status_watches_the_space_where_an_adopted_repository_lives(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    config = {**_with_clients(host1={}, host2={}, host3={}), "repo_root": str(tmp_path)}
    assert "elsewhere" not in server_space(config)
    (tmp_path / "sub").mkdir()
    config["clients"]["host1"]["repository"] = str(tmp_path / "sub" / "old")  # same filesystem
    assert "elsewhere" not in server_space(config)
    config["clients"]["host2"]["repository"] = str(other / "a" / "old2")
    config["clients"]["host3"]["repository"] = str(other / "a" / "old3")
    (elsewhere,) = server_space(config)["elsewhere"]
    assert elsewhere["path"] == str(other / "a") and "error" in elsewhere
    status = {
        "server": {
            "repo_root": "/b",
            "free": 50,
            "total": 100,
            "low_space": False,
            "elsewhere": [
                {"path": "/data/zfs", "free": 5 * 2**20, "total": 100 * 2**20, "low_space": True},
                {"path": "/gone", "error": "No such file or directory"},
            ],
        },
        "clients": [],
    }
    assert health_problems(status) == [
        ("server", "low_space", "low disk space at /data/zfs: 5 MiB free of 100 MiB"),
        ("server", "error", "cannot read /gone: No such file or directory"),
    ]


def test_commands_and_paths() -> None:
    guard = guard_program_path("/home/borg/.config/borgkeep")
    assert guard == "/home/borg/.config/borgkeep/guard.py"
    assert guard_command("/usr/bin/python3", guard, "prune", "host1") == (
        f"/usr/bin/python3 -I {guard} prune host1"
    )
    assert guard_state_path("/s", "db_2") == "/s/db_2.guard.json"
    for args in (
        ("python3", guard, "prune", "host1"),
        ("/usr/bin/python3", guard, "delete", "host1"),
        ("/usr/bin/python3", guard, "prune", "a b"),
        ("/usr/bin/python3", "/x/$(id)", "prune", "host1"),
    ):
        with pytest.raises(FieldError):
            guard_command(*args)


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [[], ["prune"], ["delete", "host1"], ["prune", "host1", "x"], ["prune", "../x"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv, CONFIG) == 2
    assert capsys.readouterr().err.startswith("borgkeep-guard: ")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], CONFIG) == 0
    assert "acknowledge CLIENT" in capsys.readouterr().out


# --- prune output and the prune config -----------------------------------------------------------


def test_prune_lines_give_the_id_in_the_last_brackets() -> None:
    removed_id, kept_id = "a" * 64, "b" * 64
    output = (
        f"Pruning archive (1/2):                   host1-[{kept_id}]  Mon, 2026-01-05 03:00:00 [{removed_id}]\n"
        f"Keeping archive (rule: daily[oldest] #1): host1-x           Sun, 2026-01-04 03:00:00 [{kept_id}]\n"
        "summary:\n"
    )  # fmt: skip
    report = parse_prune_list(output)
    assert report.removed == (removed_id,) and report.kept == (kept_id,)


@pytest.mark.parametrize("version", ["1.7.7", "2.1.10"])
def test_the_prune_config_is_pointed_at_the_hidden_path_exactly_once(version: str) -> None:
    text = render_server_prune_config(
        borgmatic_version=version,
        borg_path="/usr/bin/borg",
        client_name="host1",
        repository_path="/backups/host1",
        passphrase_file="/home/borg/.config/borgkeep/host1.passphrase",
        retention={"keep_daily": 7},
    )
    hidden = substitute_repository(text, "/backups/host1", "/backups/.host1.borgkeep-guard")
    assert hidden.replace("/backups/.host1.borgkeep-guard", "/backups/host1") == text
    assert hidden.count("/backups/.host1.borgkeep-guard") == 1
    with pytest.raises(GuardFailure):
        substitute_repository(text, "/backups/host2", "/x")
    with pytest.raises(GuardFailure):
        substitute_repository(text + text, "/backups/host1", "/x")


# --- repository hiding ---------------------------------------------------------------------------


def test_hiding_takes_borgs_lock_and_restoring_never_clobbers(tmp_path: Path) -> None:
    real, hidden = tmp_path / "host1", tmp_path / ".host1.borgkeep-guard"
    real.mkdir()
    (real / "config").write_text("[repository]\n")
    hide_repository(str(real), str(hidden), 0)
    assert not real.exists() and sorted(p.name for p in hidden.iterdir()) == ["config"]
    real.mkdir()
    with pytest.raises(GuardFailure, match="was created again"):
        restore_repository(str(real), str(hidden))
    assert hidden.exists() and real.exists()
    real.rmdir()
    restore_repository(str(real), str(hidden))
    assert (real / "config").exists() and not hidden.exists()


def test_a_held_borg_lock_stops_the_hiding_and_a_dead_guards_lock_is_cleared(
    tmp_path: Path,
) -> None:
    real = tmp_path / "host1"
    (real / "lock.exclusive").mkdir(parents=True)
    (real / "lock.exclusive" / "client@host.123-0").write_text("")
    with pytest.raises(GuardFailure, match="stayed locked"):
        hide_repository(str(real), str(tmp_path / "hidden"), 0)
    assert real.exists() and not (tmp_path / "hidden").exists()
    (real / "lock.exclusive" / "client@host.123-0").unlink()
    (real / "lock.exclusive" / "borgkeep-guard.999999999-0").write_text("")
    lock = take_repository_lock(str(real), 0)
    assert lock == str(real / "lock.exclusive" / f"borgkeep-guard.{os.getpid()}-0")


def test_a_repository_left_hidden_is_restored_unless_both_exist(tmp_path: Path) -> None:
    real, hidden = tmp_path / "host1", tmp_path / ".host1.borgkeep-guard"
    assert recover_hidden_repository(str(real), str(hidden)) is None
    hidden.mkdir()
    assert "restored" in recover_hidden_repository(str(real), str(hidden))
    assert real.is_dir() and not hidden.exists()
    hidden.mkdir()
    with pytest.raises(GuardFailure, match="touching neither"):
        recover_hidden_repository(str(real), str(hidden))


# --- state ---------------------------------------------------------------------------------------


def test_state_round_trips_privately_and_the_shell_guards_list_is_migrated(
    tmp_path: Path,
) -> None:
    archive = ListedArchive("c" * 64, "host1-\x1b", NOW - timedelta(hours=3))
    state = GuardState(
        client="host1",
        repository="/backups/host1",
        last_run=NOW,
        archives={archive.id: RecordedArchive(archive.name, archive.time, NOW, None)},
        committed_segment=7,
        last_result={"time": "x", "status": "ok", "message": "m", "archives": []},
    )
    path = save_state(str(tmp_path), state)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert load_state(str(tmp_path), "host1") == state
    assert json.loads(Path(path).read_text())["version"] == 1

    (tmp_path / "host2.archives").write_text(f"{'c' * 64} host1-?\n{'d' * 64} host1-gone\n")
    names, written = read_old_state(str(tmp_path), "host2")
    migrated = migrate_old_state("host2", "/backups/host2", names, written, [archive], None)
    assert migrated.archives["c" * 64].name == "host1-\x1b"  # the listing's own name
    assert migrated.archives["d" * 64].name == "host1-gone"
    assert migrated.last_run == written and migrated.archives["d" * 64].first_seen == written


# --- the segment log -----------------------------------------------------------------------------


def _entry(tag: int, object_id: bytes | None = None, data: bytes = b"") -> bytes:
    body = struct.pack("<IB", 9 + (32 if object_id else 0) + len(data), tag)
    body += (object_id or b"") + data
    return struct.pack("<I", zlib.crc32(body)) + body


def _segment(repository: Path, number: int, *entries: bytes) -> None:
    directory = repository / "data" / "0"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(number)).write_bytes(b"BORG_SEG" + b"".join(entries))


def test_the_segment_log_shows_objects_deleted_or_overwritten_after_the_baseline(
    tmp_path: Path,
) -> None:
    old, other, new, manifest = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, bytes(32)
    _segment(
        tmp_path, 1, _entry(0, old, b"data"), _entry(0, other, b"x"), _entry(0, manifest), _entry(2)
    )
    _segment(tmp_path, 2, _entry(1, manifest), _entry(0, manifest), _entry(0, new), _entry(2))
    assert last_committed_segment(str(tmp_path)) == 2
    assert touched_objects(str(tmp_path), 1) == []
    _segment(tmp_path, 3, _entry(1, old), _entry(0, old, b"junk"), _entry(1, other), _entry(2))
    _segment(tmp_path, 4, _entry(1, new))  # not committed: borg discards it
    assert last_committed_segment(str(tmp_path)) == 3
    assert touched_objects(str(tmp_path), 2) == [
        (old.hex(), "overwritten"),
        (other.hex(), "deleted"),
    ]
    assert touched_objects(str(tmp_path), 3) == []
    _segment(tmp_path, 5, b"\x00" * 20, _entry(2))
    with pytest.raises(Exception, match="segment 5"):
        touched_objects(str(tmp_path), 3)


# --- alerts --------------------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_alerts_go_where_configured_and_never_print_their_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    alerts = {"ntfy": f"{base}/topic", "healthchecks": f"{base}/hc/uuid", "webhook": f"{base}/hook"}
    try:
        _Recorder.received.clear()
        send_alerts(alerts, server="nas", client="host1", state="refused", line="L1", now=NOW)
        send_alerts(alerts, server="nas", client="host1", state="ok", line="L2", now=NOW)
        send_alerts(alerts, server="nas", client="all", state="ok", line="L3", now=NOW)
    finally:
        server.shutdown()
    received = {(path, body) for path, _, body in _Recorder.received}
    webhook = {"server": "nas", "client": "host1", "state": "refused", "message": "L1",
               "time": "2026-03-10T05:30:00+00:00"}  # fmt: skip
    assert received == {
        ("/topic", b"L1"),
        ("/hc/uuid/fail", b"L1"),
        ("/hook", json.dumps(webhook).encode()),
        ("/hc/uuid", b"L3"),  # only the health job's all-clear, never one client's success
    }
    dead = {"ntfy": "http://127.0.0.1:9/secret-token", "webhook": "https://nowhere.invalid/tok"}
    send_alerts(dead, server="nas", client="host1", state="failed", line="L3")
    err = capsys.readouterr().err
    assert "could not send the ntfy alert" in err and "could not send the webhook alert" in err
    assert "secret-token" not in err and "nowhere.invalid" not in err and "/tok" not in err


def test_rollback_takes_a_transaction_and_drill_runs_for_the_fleet() -> None:
    guard = guard_program_path("/home/borg/.config/borgkeep")
    assert guard_command("/usr/bin/python3", guard, "rollback", "host1", "54") == (
        f"/usr/bin/python3 -I {guard} rollback host1 54"
    )
    assert guard_command("/usr/bin/python3", guard, "inspect", "host1").endswith("inspect host1")
    for numbers in ((), ("5; id",), ("1", "2")):
        with pytest.raises(FieldError):
            guard_command("/usr/bin/python3", guard, "rollback", "host1", *numbers)
    with pytest.raises(FieldError):
        guard_command("/usr/bin/python3", guard, "prune", "host1", "54")
    assert fleet_command("/usr/bin/python3", guard, "drill") == f"/usr/bin/python3 -I {guard} drill"


@pytest.mark.parametrize(
    "argv", [["rollback", "host1"], ["rollback", "host1", "x"], ["drill", "nobody"], ["inspect"]]
)
def test_new_commands_refuse_wrong_arguments(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, CONFIG) == 2
    assert capsys.readouterr().err.startswith("borgkeep-guard: ")


def test_the_installed_config_is_read_back_from_the_program() -> None:
    program = render_guard_program(CONFIG)
    assert installed_guard_config(program) == check_guard_config(CONFIG)
    assert installed_guard_config("#!/bin/sh\n") is None
    assert installed_guard_config(None) is None
