"""The command line's failures: one clear line per host (never a library traceback), a JSON
error object with `--json`, the same exit codes, a configurable connect timeout, and
`apply PLANFILE` checking the plan's own inventory before connecting anywhere."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wizard.pipeline.plan import Plan
from wizard.pipeline.plan_file import save_plan_file

LISTENER_LIFETIME = 20.0


@contextlib.contextmanager
def listener(behaviour: str) -> Iterator[tuple[int, list[int]]]:
    """A TCP listener on 127.0.0.1 that closes each connection at once (`close`) or accepts
    and never says anything (`silent`); it stops by itself after LISTENER_LIFETIME seconds.
    Yields (port, accepted connections)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.1)
    accepted: list[int] = []
    held: list[socket.socket] = []
    deadline = time.monotonic() + LISTENER_LIFETIME
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            if behaviour == "close":
                conn.close()
            else:
                held.append(conn)
        for conn in held:
            conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


def write_inventory(path: Path, server_port: int, client_port: int) -> Path:
    path.write_text(
        "version: 1\n"
        f"server: {{name: nas, ssh: 'root@127.0.0.1:{server_port}'}}\n"
        "retention: {keep_daily: 7}\n"
        "clients:\n"
        f"  - {{name: c1, ssh: 'root@127.0.0.1:{client_port}', source_directories: [/etc]}}\n"
    )
    return path


def borgkeep(tmp_path: Path, *args: str, cwd: Path | None = None, **env: str):
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "BORGKEEP_SSH_CONFIG": str(tmp_path / "no_ssh_config"),
        "BORGKEEP_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
        "BORGKEEP_SECRETS": "file",
        **env,
    }
    environment.pop("BORGKEEP_INVENTORY", None)
    return subprocess.run(
        [sys.executable, "-m", "screens.launcher", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd or tmp_path,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_no_traceback(result) -> None:
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text and "paramiko" not in text, text


def test_a_server_that_closes_at_once_and_a_client_that_never_answers(tmp_path):
    with listener("close") as (server_port, _), listener("silent") as (client_port, _):
        inventory = write_inventory(tmp_path / "inv.yaml", server_port, client_port)
        started = time.monotonic()
        result = borgkeep(tmp_path, "--inventory", str(inventory), "plan", "--connect-timeout", "2")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert_no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if "✗" in line or "borgkeep:" in line]
    assert errors == [
        f"  ✗ c1: no SSH banner from 127.0.0.1:{client_port} within 2 s",
        f"borgkeep: nas: connection closed by 127.0.0.1:{server_port} before the SSH banner",
    ], result.stderr
    assert elapsed < 15


def test_silent_server_with_the_timeout_from_the_environment_and_json(tmp_path):
    with listener("silent") as (server_port, accepted), listener("close") as (client_port, _):
        inventory = write_inventory(tmp_path / "inv.yaml", server_port, client_port)
        result = borgkeep(
            tmp_path,
            "plan",
            "--json",
            "--inventory",
            str(inventory),
            BORGKEEP_CONNECT_TIMEOUT="1.5",
        )
    assert result.returncode == 1
    assert_no_traceback(result)
    assert accepted
    assert json.loads(result.stdout) == {
        "error": f"nas: no SSH banner from 127.0.0.1:{server_port} within 1.5 s"
    }
    assert result.stderr == ""


def test_json_error_for_an_invalid_inventory_names_each_field(tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "version: 1\nserver: {name: nas, ssh: root@nas}\nretention: {keep_daily: 7}\n"
        "clients:\n  - {name: c1, ssh: c1, source_directories: [/etc], schedule: '0 25 * * *'}\n"
    )
    result = borgkeep(tmp_path, "--inventory", str(inventory), "plan", "--json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["error"].startswith("invalid inventory")
    assert payload["errors"] == [
        {
            "field": "clients[0].schedule",
            "message": "hour 25 is out of range 0-23",
            "line": 5,
            "source": str(inventory),
        }
    ]


def test_bad_connect_timeouts_are_refused(tmp_path):
    inventory = write_inventory(tmp_path / "inv.yaml", 1, 2)
    result = borgkeep(tmp_path, "--inventory", str(inventory), "plan", "--connect-timeout", "0")
    assert result.returncode == 2 and "--connect-timeout" in result.stderr  # argparse's usage
    result = borgkeep(
        tmp_path, "--inventory", str(inventory), "plan", "--json", BORGKEEP_CONNECT_TIMEOUT="soon"
    )
    assert result.returncode == 1
    assert "BORGKEEP_CONNECT_TIMEOUT" in json.loads(result.stdout)["error"]
    wizard = borgkeep(tmp_path, "--inventory", str(inventory), BORGKEEP_CONNECT_TIMEOUT="-1")
    assert wizard.returncode == 1  # said before the wizard takes the terminal
    assert wizard.stderr.strip() == (
        "borgkeep: BORGKEEP_CONNECT_TIMEOUT: '-1' is not a number of seconds between 0 and 3600"
    )


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_apply_planfile_checks_its_own_inventory_before_connecting(tmp_path, change):
    """From another directory and without --inventory, the plan's inventory is the one used;
    when it changed or is gone, nothing connects."""
    with listener("close") as (port, accepted):
        (tmp_path / "fleet").mkdir()
        inventory = write_inventory(tmp_path / "fleet" / "inv.yaml", port, port)
        plan_file = tmp_path / "fleet" / "reviewed.plan"
        save_plan_file(Plan([], [], {}, ["nas", "c1"]), plan_file, inventory)
        saved = json.loads(plan_file.read_text())
        assert saved["inventory"] == str(inventory.resolve()) and saved["borgkeep_plan"] == 3
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        if change == "edit":
            inventory.write_text(inventory.read_text().replace("keep_daily: 7", "keep_daily: 8"))
        else:
            inventory.unlink()
        result = borgkeep(tmp_path, "apply", str(plan_file), cwd=elsewhere)
        time.sleep(0.3)
    assert result.returncode == 1, result.stderr
    assert str(inventory.resolve()) in result.stderr
    assert ("changed since the plan was saved" if change == "edit" else "cannot read") in (
        result.stderr
    )
    assert accepted == []
    assert_no_traceback(result)


def test_apply_planfile_refuses_another_inventory(tmp_path):
    with listener("close") as (port, accepted):
        inventory = write_inventory(tmp_path / "inv.yaml", port, port)
        other = write_inventory(tmp_path / "other.yaml", port, port)
        plan_file = tmp_path / "reviewed.plan"
        save_plan_file(Plan([], [], {}, ["nas"]), plan_file, inventory)
        result = borgkeep(tmp_path, "--inventory", str(other), "apply", str(plan_file))
    assert result.returncode == 1
    assert "was made from the inventory" in result.stderr and accepted == []


def test_help_lists_the_lifecycle_commands_and_each_has_its_own_help(tmp_path):
    result = borgkeep(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("remove", "rotate-key", "recover", "restore"):
        assert f"    {command} " in result.stdout
        assert borgkeep(tmp_path, command, "--help").returncode == 0
    assert "--purge-repository CLIENT" in borgkeep(tmp_path, "remove", "--help").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["remove", "c1", "--purge-repository", "c2"], "must repeat the client's name"),
        (["restore", "c1", "etc/hosts"], "PATH: 'etc/hosts' is not an absolute path"),
        (["restore", "c1", "/etc/../shadow"], "must not contain '..'"),
        (["restore", "c1", "/etc/hosts", "--to", "/"], "add --overwrite"),
        (["rotate-key", "c1;id"], "CLIENT"),
    ],
)
def test_lifecycle_requests_are_refused_before_connecting_anywhere(tmp_path, args, message):
    with listener("close") as (port, accepted):
        inventory = write_inventory(tmp_path / "inv.yaml", port, port)
        result = borgkeep(tmp_path, "--inventory", str(inventory), *args)
        as_json = borgkeep(tmp_path, "--inventory", str(inventory), *args, "--json")
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert as_json.returncode == 1 and message in json.loads(as_json.stdout)["error"]
    assert accepted == [] and "Traceback" not in result.stderr
