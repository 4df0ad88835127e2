"""Cut the SSH connection at many points of an apply: every managed file on every host is
then either its old or its new version (never truncated or mixed), and a rerun converges."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.cutting_proxy import CuttingProxy

pytestmark = pytest.mark.lab

ROOTS = {"A": "/srv/backups", "B": "/srv/backups2"}


def inventory_text(lab, which: str) -> str:
    data = yaml.safe_load(lab.inventory_yaml(repo_root=ROOTS[which]))
    if which == "B":
        data["retention"] = {"keep_daily": 3, "keep_weekly": 2}
        data["server"]["prune_schedule"] = "15 6 * * *"
        for client in data["clients"]:
            client["exclude_patterns"] = ["*.tmp", "*/cache"]
            client["schedule"] = "0 4 * * *"
    return yaml.safe_dump(data, sort_keys=False)


def managed_files(lab) -> dict[str, list[str]]:
    files = {
        "nas": ["/home/borg/.ssh/authorized_keys"]
        + [f"/home/borg/.config/borgkeep/prune-{c}.yaml" for c in ("client1", "client2")]
        + [f"/home/borg/.config/borgkeep/{c}.passphrase" for c in ("client1", "client2")],
        "client1": [
            "/etc/borgkeep/borgkeep-client1.yaml",
            "/etc/borgkeep/client1.passphrase",
            "/root/.ssh/borgkeep_known_hosts",
            "/root/.ssh/borgkeep_ed25519.pub",
        ],
        "client2": [
            "/home/bk-client2/.config/borgkeep/borgkeep-client2.yaml",
            "/home/bk-client2/.config/borgkeep/client2.passphrase",
            "/home/bk-client2/.ssh/borgkeep_known_hosts",
            "/home/bk-client2/.ssh/borgkeep_ed25519.pub",
        ],
    }
    return files


CRONTABS = {
    "nas": ("root", ["crontab", "-l", "-u", "borg"]),
    "client1": ("root", ["crontab", "-l"]),
}


def snapshot(lab) -> dict[tuple[str, str], bytes | None]:
    state: dict[tuple[str, str], bytes | None] = {}
    for host, paths in managed_files(lab).items():
        for path in paths:
            state[(host, path)] = lab.read_file(host, path)
    for host, user, argv in (
        ("nas", None, ["crontab", "-l", "-u", "borg"]),
        ("client1", None, ["crontab", "-l"]),
        ("client2", "bk-client2", ["crontab", "-l"]),
    ):
        result = lab.run(host, argv, user=user)
        state[(host, "crontab")] = result.stdout if result.returncode == 0 else None
    return state


def leftover_temp_files(lab) -> list[str]:
    found = []
    for host, paths in managed_files(lab).items():
        for directory in sorted({os.path.dirname(p) for p in paths}):
            result = lab.run(
                host, f"ls -a {directory} 2>/dev/null | grep '^\\.borgkeep\\.' || true"
            )
            found += [f"{host}:{directory}/{n}" for n in result.stdout.decode().split()]
    return found


@pytest.fixture
def proxied(lab, tmp_path):
    """The operator reaches every lab host through a cutting proxy."""
    proxies = {name: CuttingProxy(host.port) for name, host in lab.hosts.items()}
    config = lab.ssh_config.read_text()
    for name, host in lab.hosts.items():
        block = re.compile(rf"(Host {re.escape(host.alias)}\n(?:[ \t]+.*\n)*?[ \t]+Port )(\d+)")
        config, count = block.subn(lambda m, p=proxies[name].port: m.group(1) + str(p), config)
        assert count == 1, f"no Port line for {host.alias} in the lab's ssh_config"
    (tmp_path / "ssh_config").write_text(config)
    known = "".join(
        lab.host_key_line(name).replace(f"]:{host.port} ", f"]:{proxies[name].port} ") + "\n"
        for name, host in lab.hosts.items()
    )
    (tmp_path / "known_hosts").write_text(known)
    env = {
        **os.environ,
        "BORGKEEP_SSH_CONFIG": str(tmp_path / "ssh_config"),
        "BORGKEEP_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "BORGKEEP_SECRETS": "file",
        "BORGKEEP_LOCK_TIMEOUT": "30",
    }
    yield proxies, env
    for proxy in proxies.values():
        proxy.close()


def borgkeep(env, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screens.launcher", "--inventory", str(inventory), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cut_connections_leave_old_or_new_files_and_rerun_converges(lab, proxied, tmp_path):
    proxies, env = proxied
    inventory = tmp_path / "inventory.yaml"

    def apply_fully(which: str) -> dict[str, int]:
        inventory.write_text(inventory_text(lab, which))
        for proxy in proxies.values():
            proxy.arm(None)
        result = borgkeep(env, inventory, "apply", "--yes", "--no-verify")
        assert result.returncode == 0, result.stdout + result.stderr
        return {name: proxy.total for name, proxy in proxies.items()}

    apply_fully("A")
    totals = {"B": apply_fully("B"), "A": apply_fully("A")}
    kill_points = [
        ("B", "nas", 0.55),
        ("A", "client1", 0.6),
        ("B", "nas", 0.7),
        ("A", "client2", 0.75),
        ("B", "nas", 0.8),
        ("A", "nas", 0.62),
        ("B", "client1", 0.85),
        ("A", "nas", 0.9),
    ]
    cuts = 0
    for which, host, fraction in kill_points:
        before = snapshot(lab)
        inventory.write_text(inventory_text(lab, which))
        for name, proxy in proxies.items():
            proxy.arm(int(totals[which][name] * fraction) if name == host else None)
        cut_run = borgkeep(env, inventory, "apply", "--yes", "--no-verify")
        cuts += proxies[host].cut
        middle = snapshot(lab)
        assert not leftover_temp_files(lab)
        for proxy in proxies.values():
            proxy.arm(None)
        rerun = borgkeep(env, inventory, "apply", "--yes", "--no-verify")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        after = snapshot(lab)
        again = borgkeep(env, inventory, "plan")
        assert again.returncode == 0, again.stdout + again.stderr
        for key, content in middle.items():
            assert content in (before[key], after[key]), (
                f"{key} is neither its old nor its new version after a cut at "
                f"{fraction:.0%} of {host}'s traffic (exit {cut_run.returncode})"
            )
    assert cuts >= 6, "the proxy should really have cut most of those applies"
