"""Before there is a fleet to plan: the operator's ssh hosts, probing a would-be client,
the connect timeout, and reading a saved plan. Re-exported by `wizard.session`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wizard.pipeline.facts import HostFacts
from wizard.pipeline.gather import gather_client_facts
from wizard.pipeline.plan_file import SavedPlan, load_plan_file
from wizard.remote.ssh_config import (
    list_config_hosts,
    operator_known_hosts_path,
    operator_ssh_config_path,
    resolve_target,
)
from wizard.remote.step_timeouts import parse_seconds

UnknownKeyCallback = Callable[[str, int, str, str], bool]
DEFAULT_CONNECT_TIMEOUT = 15.0
CONNECT_TIMEOUT_ENV = "BORGKEEP_CONNECT_TIMEOUT"


def parse_connect_timeout(text: str, origin: str = CONNECT_TIMEOUT_ENV) -> float:
    """Seconds to wait for a host's TCP connect and its SSH banner: a number above 0."""
    return parse_seconds(text, origin, 3600)


def default_connect_timeout() -> float:
    """`BORGKEEP_CONNECT_TIMEOUT` if set, else 15 seconds."""
    text = os.environ.get(CONNECT_TIMEOUT_ENV, "").strip()
    return parse_connect_timeout(text) if text else DEFAULT_CONNECT_TIMEOUT


def load_saved_plan(path: Path) -> SavedPlan:
    """Read `apply PLANFILE`'s plan and its inventory, before connecting anywhere; raises
    `PlanMismatch` when the file is unreadable or its inventory changed since."""
    return load_plan_file(path)


def config_hosts() -> list[str]:
    """The Host aliases of the operator's ssh config, to offer as servers and clients."""
    return list_config_hosts(operator_ssh_config_path())


@dataclass(frozen=True)
class ServerProbe:
    """What the server screen shows before anything is planned."""

    facts: HostFacts
    borg_user: str
    repo_root: str


def probe_client(
    name: str,
    destination: str,
    on_unknown_host_key: UnknownKeyCallback | None = None,
    accept_new_host_keys: bool = False,
    connect_timeout: float | None = None,
    ssh_config_path: Path | None = None,
    known_hosts_path: Path | None = None,
) -> HostFacts:
    """Connect to one would-be client (before there is a fleet to plan), read its facts, and
    close the connection: the clients screen's check."""
    config = ssh_config_path or operator_ssh_config_path()
    target = resolve_target(destination, config if config.exists() else None)
    from wizard.remote.transport import Connection  # paramiko loads here, not at start

    with Connection.connect(
        target,
        known_hosts_path or operator_known_hosts_path(),
        on_unknown=on_unknown_host_key,
        accept_new=accept_new_host_keys,
        timeout=connect_timeout or default_connect_timeout(),
    ) as conn:
        return gather_client_facts(conn, name)
