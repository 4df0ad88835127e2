"""Hand-built facts for planner tests, and the facts a host would have after an apply."""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import replace

from wizard.artefacts.guard_program import guard_state_path
from wizard.inventory.parse import parse_inventory
from wizard.inventory.settings import resolve_server
from wizard.pipeline.desired import compute_desired_state
from wizard.pipeline.desired.items import (
    DesiredCommand,
    DesiredCrontab,
    DesiredDir,
    DesiredFile,
    DesiredState,
    Passphrase,
)
from wizard.pipeline.facts import DirState, FileState, HostFacts, UserInfo
from wizard.pipeline.plan import compute_plan
from wizard.remote.scripts import exported_key

SERVER_KEY = (
    "ssh-ed25519 "
    + base64.b64encode(
        struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + b"S" * 32
    ).decode()
)

INVENTORY = """\
version: 1
server:
  name: nas
  ssh: root@nas.lan
  address: nas.lan:2222
retention:
  keep_daily: 7
  keep_weekly: 4
clients:
  - name: host1
    ssh: root@host1.lan
    source_directories: [/etc, /home]
  - name: host2
    ssh: alice@host2.lan
    source_directories: [/home/alice/data]
    exclude_patterns: ["*.tmp"]
    retention: {keep_daily: 30}
"""

SECRET = "correct-horse-battery-staple-0123456789"


def client_key(name: str) -> str:
    body = hashlib.sha256(name.encode()).digest()
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + body
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def server_facts(**kw) -> HostFacts:
    base = HostFacts(
        host="nas",
        login_user="root",
        uid=0,
        home="/root",
        borg_version="1.2.4",
        borg_path="/usr/bin/borg",
        cron_borg_path="/usr/bin/borg",
        borgmatic_version="2.1.10",
        borgmatic_path="/usr/local/bin/borgmatic",
        host_key=SERVER_KEY,
    )
    return replace(base, **kw)


def client_facts(name: str, user: str = "root", version: str = "1.7.7", **kw) -> HostFacts:
    base = HostFacts(
        host=name,
        login_user=user,
        uid=0 if user == "root" else 1000,
        home="/root" if user == "root" else f"/home/{user}",
        borg_version="1.2.4",
        borg_path="/usr/bin/borg",
        cron_borg_path="/usr/bin/borg",
        borgmatic_version=version,
        borgmatic_path="/usr/bin/borgmatic",
    )
    return replace(base, **kw)


def repository_config(client: str, key: str | None = None) -> str:
    """A Borg repository `config` as `borg init` writes it (the key folded over lines)."""
    repository_id = hashlib.sha256(f"repository of {client}".encode()).hexdigest()
    if key is None:
        key = base64.b64encode(hashlib.sha512(f"key of {client}".encode()).digest() * 3).decode()
    folded = "\n\t".join(key[i : i + 70] for i in range(0, len(key), 70))
    return (
        "[repository]\nversion = 1\nsegments_per_dir = 1000\nmax_segment_size = 524288000\n"
        "append_only = 0\nstorage_quota = 0\nadditional_free_space = 0\n"
        f"id = {repository_id}\nkey = {folded}\n\n"
    )


def fresh_fleet(text: str = INVENTORY):
    inventory = parse_inventory(text)
    settings = resolve_server(inventory, "root", "nas.lan", 22)
    facts = {"nas": server_facts(), "host1": client_facts("host1")}
    facts["host2"] = client_facts("host2", "alice", "2.1.10")
    facts = {
        k: v for k, v in facts.items() if k == "nas" or any(c.name == k for c in inventory.clients)
    }
    for c in inventory.clients:
        if c.name not in facts:
            facts[c.name] = client_facts(c.name)
    passphrases = {c.name: Passphrase(f"{SECRET}-{c.name}", is_new=True) for c in inventory.clients}
    return inventory, settings, facts, passphrases


def plan_for(inventory, settings, facts, passphrases):
    desired = compute_desired_state(inventory, settings, facts, passphrases)
    return desired, compute_plan(desired, facts)


def applied_facts(
    desired: DesiredState, facts: dict[str, HostFacts], settings
) -> dict[str, HostFacts]:
    """The facts every host would report after the desired state was applied."""
    out = dict(facts)
    for entry in desired.items:
        f = out[entry.host]
        item = entry.item
        if isinstance(item, DesiredFile):
            state = FileState(item.path, item.content.encode(), item.mode, item.owner, item.group)
            f = replace(f, files={**f.files, item.path: state})
        elif isinstance(item, DesiredDir):
            state = DirState(item.path, True, item.mode, item.owner, item.group)
            f = replace(f, dirs={**f.dirs, item.path: state})
        elif isinstance(item, DesiredCrontab):
            f = replace(f, crontabs={**f.crontabs, item.user: item.content})
        elif isinstance(item, DesiredCommand):
            if item.name == "generate-key":
                f = replace(f, client_public_key=client_key(entry.host))
            elif item.name == "create-user":
                user = UserInfo(item.args["user"], 999, 999, item.args["home"])
                f = replace(f, users={**f.users, user.name: user})
            elif item.name == "init-guard":
                client = item.args["client"]
                state = guard_state_path(desired.server_paths.state_dir, client)
                f = replace(f, existing=f.existing | {state})
                copy = desired.server_paths.repokey(client)
                if not f.file(copy).exists:  # the guard's init keeps the new key's copy
                    config = f.file(desired.server_paths.repository_config(client)).text
                    text = exported_key(config, desired.server_paths.repository(client))
                    f = replace(f, files={**f.files, copy: FileState(copy, text.encode(), 0o600)})
            elif item.name == "init-repo":
                server = out[desired.server]
                repo = desired.server_paths.repository(entry.host)
                config = desired.server_paths.repository_config(entry.host)
                state = FileState(config, repository_config(entry.host).encode(), 0o600, "borg")
                out[desired.server] = replace(
                    server,
                    initialised_repos=server.initialised_repos | {repo},
                    files={**server.files, config: state},
                )
                continue
        out[entry.host] = f
    return out


def converge(inventory, settings, facts, passphrases, rounds: int = 3):
    """Apply desired state to facts until nothing changes (keys get generated in round 1)."""
    for _ in range(rounds):
        desired, plan = plan_for(inventory, settings, facts, passphrases)
        if plan.empty:
            return facts
        facts = applied_facts(desired, facts, settings)
    return facts
