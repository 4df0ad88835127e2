"""Phase 2: the server's borg account, the repository root, and authorized_keys with one
append-only line per client.

Every client key is checked before it is written: it must be an ed25519 key, and no other
client (and no hand-written line) may already use it — sshd gives a key to the first line
that carries it, so a shared key would open one client's repository to another.
"""

from __future__ import annotations

import posixpath

from wizard.artefacts import authorized_keys
from wizard.artefacts.authorized_keys_audit import (
    audit_authorized_keys,
    key_lines,
    remove_key_lines,
)
from wizard.inventory.validation import FieldError
from wizard.pipeline.desired.fleet import Fleet, require
from wizard.pipeline.desired.items import (
    PHASE_SERVER_ACCESS,
    DesiredCommand,
    DesiredDir,
    DesiredFile,
    DesiredItem,
    DesiredStateError,
)


def server_access(
    fleet: Fleet, public_keys: dict[str, str], placeholders: dict[str, str]
) -> tuple[list[DesiredItem], authorized_keys.AuthorizedKeysResult, list[str]]:
    """`public_keys`: reachable clients' keys (phase 1; `placeholders` maps the blobs of keys
    not generated yet). Clients that are not reachable keep the key their line already has,
    so an unreachable host is never revoked by accident. Returns the items, the new
    authorized_keys, and warnings about lines outside the block that undo the pins."""
    server, spaths, borg_user = fleet.server, fleet.server_paths, fleet.borg_user
    server_facts = fleet.server_facts
    items: list[DesiredItem] = []
    if borg_user not in server_facts.users and borg_user != server_facts.login_user:
        items.append(
            DesiredItem(
                server,
                PHASE_SERVER_ACCESS,
                DesiredCommand(
                    "create-user",
                    f"create the system user {borg_user} (home {spaths.home}, no password)",
                    {"user": borg_user, "home": spaths.home},
                ),
            )
        )
    items.append(
        DesiredItem(server, PHASE_SERVER_ACCESS, DesiredDir(spaths.repo_root, 0o700, borg_user))
    )
    for client in fleet.inventory.clients:
        _check_placed_repository(fleet, client.name)
    original = server_facts.file(spaths.authorized_keys).text
    items += removed_lines_backups(fleet, original)
    existing = taken_over_key_lines_removed(fleet, original)
    current = authorized_keys.parse_authorized_keys_block(existing)
    entries = {}
    for client in fleet.inventory.clients:
        key = public_keys.get(client.name)
        if key is None and client.name in current:
            key = authorized_keys.public_key_of_line(current[client.name])
        if key is not None:
            entries[client.name] = (key, spaths.repository(client.name))
    _refuse_hostile_keys(fleet, existing, current, entries, placeholders)
    borg_path = require(server_facts, "the borg path", server_facts.borg_path)
    quotas = {c.name: c.quota for c in fleet.inventory.clients if c.quota}
    try:
        result = authorized_keys.render_authorized_keys(existing, entries, borg_path, quotas)
    except ValueError as exc:
        raise DesiredStateError(server, f"authorized_keys: {exc}") from None
    items.append(
        DesiredItem(
            server,
            PHASE_SERVER_ACCESS,
            DesiredFile(
                spaths.authorized_keys,
                result.text,
                0o600,
                borg_user,
                managed_block=True,
                description="append-only keys of the clients",
            ),
        )
    )
    managed = {key.split()[1]: name for name, (key, _) in entries.items()}
    where = f"{server}: {spaths.authorized_keys}"
    warnings = [f"{where}: {problem}" for problem in audit_authorized_keys(existing, managed)]
    return items, result, warnings


def _check_placed_repository(fleet: Fleet, client: str) -> None:
    """A repository the inventory places outside `repo_root` lives in a directory the borg
    user owns: Borg creates it there, and the guard hides it by a rename there."""
    spaths = fleet.server_paths
    if not spaths.is_placed(client):
        return
    parent = posixpath.dirname(spaths.repository(client))
    state = fleet.server_facts.directory(parent)
    if state.kind == "symlink" or not state.exists or state.owner != fleet.borg_user:
        why = (
            "is a symbolic link"
            if state.kind == "symlink"
            else "does not exist"
            if not state.exists
            else f"is owned by {state.owner}"
        )
        raise DesiredStateError(
            fleet.server,
            f"{client}: its repository {spaths.repository(client)} is placed in {parent}, which "
            f"{why}: it must be a directory the borg user {fleet.borg_user} owns (Borg creates "
            "the repository there, and the guard hides it by a rename there). Nothing was "
            "planned",
        )


def removed_lines_backups(fleet: Fleet, text: str | None) -> list[DesiredItem]:
    """Nothing of the user's goes without a copy: the lines a takeover removes from
    `authorized_keys`, verbatim, in `authorized_keys.borgkeep-taken-over-CLIENT` beside it
    (written once, with the removal; a later plan has nothing to remove, so no change)."""
    lines = (text or "").splitlines()
    items = []
    for client, takeover in sorted(fleet.takeovers.items()):
        numbers = [line.number for line in takeover.remove_key_lines]
        if not numbers:
            continue
        kept = "".join(f"{lines[n - 1]}\n" for n in numbers if 0 < n <= len(lines))
        path = f"{fleet.server_paths.authorized_keys}.borgkeep-taken-over-{client}"
        header = f"# The lines Borgkeep removed from authorized_keys when it took {client} over.\n"
        items.append(
            DesiredItem(
                fleet.server,
                PHASE_SERVER_ACCESS,
                DesiredFile(
                    path,
                    header + kept,
                    0o600,
                    fleet.borg_user,
                    description=f"copy of the key lines the takeover of {client} removes",
                ),
            )
        )
    return items


def taken_over_key_lines_removed(fleet: Fleet, text: str | None) -> str | None:
    """`text` without the lines outside Borgkeep's block that let a taken-over client's
    keys reach its repository (each left as a comment saying what it was)."""
    numbers = sorted(
        {line.number for takeover in fleet.takeovers.values() for line in takeover.remove_key_lines}
    )
    if not numbers:
        return text
    try:
        return remove_key_lines(text, numbers)
    except ValueError as exc:
        raise DesiredStateError(fleet.server, f"authorized_keys: {exc}") from None


def _refuse_hostile_keys(
    fleet: Fleet,
    existing: str | None,
    current: dict[str, str],
    entries: dict[str, tuple[str, str]],
    placeholders: dict[str, str],
) -> None:
    """A key that enters the block must be a well-formed ed25519 key used by nobody else;
    otherwise nothing is planned at all (`DesiredStateError` naming both users)."""
    server = fleet.server
    owner: dict[str, str] = {}

    def already_pinned(name: str) -> bool:
        pinned = authorized_keys.public_key_of_line(current.get(name, "")) or ""
        return bool(pinned) and pinned.split()[1:] == entries[name][0].split()[1:2]

    # A client whose key is already pinned keeps it; the newcomer with the same key is the
    # one refused (a cloned machine, or a client copying another's key).
    for name in sorted(entries, key=lambda n: (not already_pinned(n), n)):
        key = entries[name][0]
        blob = key.split()[1] if len(key.split()) > 1 else ""
        try:
            parsed = authorized_keys.parse_public_key(key, f"public key of {name}")
            if blob not in placeholders and not authorized_keys.is_ed25519(parsed):
                raise FieldError(
                    f"public key of {name}", f"{parsed.key_type} is not an ed25519 key"
                )
        except FieldError as exc:
            raise DesiredStateError(name, f"refused: {exc.message}") from None
        if blob in owner:
            first = owner[blob]
            advice = shared_key_advice(
                fleet, name, first, already_pinned(name), already_pinned(first)
            )
            raise DesiredStateError(
                name, f"refused: its public key is the same as client {first}'s; {advice}"
            )
        owner[blob] = name
    foreign = {line.blob: line for line in key_lines(existing) if not line.in_block}
    for blob, name in owner.items():
        if blob in foreign and not already_pinned(name):
            line = foreign[blob]
            raise DesiredStateError(
                name,
                f"refused: its public key is already used on line {line.number} of "
                f"{server}'s authorized_keys ({line.comment or line.key_type}); "
                "a key can only serve one client",
            )


KEY_FILES = "~/.ssh/borgkeep_ed25519*"


def shared_key_advice(
    fleet: Fleet, newcomer: str, first: str, newcomer_pinned: bool, first_pinned: bool
) -> str:
    """What to do when `newcomer` and `first` (pinned first, if either is) present one key.
    Never "delete the key" on a client whose key line already works: when both entries are
    one machine (the same ssh destination, or the same SSH host key) the inventory lists it
    twice and one entry goes; otherwise the key goes on the newcomer only, the client
    whose key line is not yet in authorized_keys."""
    specs = {c.name: c for c in fleet.inventory.clients}
    keys = [fleet.facts[n].host_key if n in fleet.facts else None for n in (newcomer, first)]
    keep = (
        f"keep {first}, whose key line is already in authorized_keys"
        if first_pinned
        else f"or {first}: keep one of the two"
    )
    if specs[newcomer].ssh == specs[first].ssh or (keys[0] and keys[0] == keys[1]):
        how = (
            f"the same ssh destination ({specs[first].ssh})"
            if specs[newcomer].ssh == specs[first].ssh
            else "the same SSH host key"
        )
        lines = [
            f"{newcomer} and {first} are one machine ({how}): the inventory lists one host "
            f"twice; remove {newcomer} from the inventory ({keep})",
            "delete no key",
        ]
        if how == "the same SSH host key":
            lines.append(
                f"only if {newcomer} is another machine, cloned from {first} with its host "
                f"keys: remove {KEY_FILES} on {newcomer} only"
            )
        return "; ".join(lines)
    if first_pinned and not newcomer_pinned:
        return (
            f"{newcomer} is the newcomer (a cloned machine, or a copied key): remove "
            f"{KEY_FILES} on {newcomer} only, and the next apply gives it a key of its own; "
            f"{first}'s key line is already in authorized_keys and its key must stay"
        )
    if not first_pinned:
        return (
            f"neither is set up yet and each client needs its own key (a cloned machine?): "
            f"remove {KEY_FILES} on one of them only, e.g. {newcomer}, and the next apply "
            "gives it a key of its own"
        )
    return (
        f"both key lines are already in authorized_keys: one machine is a copy of the other; "
        f"remove {KEY_FILES} on the copy only (the next apply gives it a key of its own)"
    )
