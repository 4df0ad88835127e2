"""The prune guard as one Python file for the server, and the commands that run it.

The guard's code lives in `wizard/hostside/` as ordinary, importable, tested modules
(standard library only). The server gets ONE file: `render_guard_program` concatenates
those modules in a fixed order, drops their intra-package imports and repeated
`from __future__` lines, and puts this server's CONFIG literal right after the managed
header (behind the one `from __future__` line Python requires first). Same CONFIG, same
bytes, so the plan's diff shows only what changed.

CONFIG schema (every key required but one marked OPTIONAL, no others; strings are ASCII)::

    {
      "server": NAME,                 # the server's inventory name, for messages/alerts
      "borg": ABSOLUTE_PATH,          # the server's borg
      "borgmatic": ABSOLUTE_PATH,     # the server's borgmatic (1.7 or >= 1.8)
      "state_dir": ABSOLUTE_PATH,     # the borg user's borgkeep dir: state, locks, alerts.json
      "repo_root": ABSOLUTE_PATH,     # client repository = {repo_root}/{client} by default
      "lock_wait": SECONDS,           # how long to wait for borg's repository lock (>= 0)
      "clock_skew": SECONDS,          # tolerated difference between client and server clocks
      "clients": {
        CLIENT_NAME: {
          "prefix": "host1-",         # the archive-name prefix borgmatic prunes (glob PREFIX*)
          "retention": {"keep_daily": 7, ...},   # as in the server's prune config
          "max_new_per_day": N,       # >= 1: archives the client may add per day
          "stale_after": SECONDS,     # >= 1: status/health call it stale after this
          "quota": BYTES,             # its storage quota, 0 for none (status shows use)
          "prune_config": ABSOLUTE_PATH,          # the server-side borgmatic prune config
          "passphrase_file": ABSOLUTE_PATH,       # 0600, the repository passphrase
          "repository": ABSOLUTE_PATH,  # OPTIONAL: a repository kept where it already was
        }
      }
    }

"repository" is the one optional key: absent, the repository is `{repo_root}/{client}` (and
the CONFIG renders exactly as it did before the key existed). Given, it is a normalised
absolute path that is not `/`, does not hold `repo_root`, does not overlap `state_dir`, and
is neither the same as nor nested in (or around) another client's repository or the path
the guard hides that repository at (`.NAME.borgkeep-guard` beside it).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from wizard.artefacts.managed_block import MANAGED_HEADER
from wizard.checks.fields import FieldError, check_absolute_path, check_name, check_retention

GUARD_FILE_NAME = "guard.py"
GUARD_MODULES = (
    "guard_text",
    "guard_retention",
    "guard_decision",
    "guard_segments",
    "guard_rollback",
    "guard_state",
    "guard_borg",
    "guard_identity",
    "guard_setup",
    "guard_notify",
    "guard_status_cache",
    "guard_health",
    "guard_prune",
    "guard_key_restore",
    "guard_drill",
    "guard_recover",
    "guard_check",
    "guard_main",
)
"""Concatenation order: each module only uses names from modules before it."""
HOSTSIDE_DIR = Path(__file__).resolve().parent.parent / "hostside"
INTRA_PACKAGE_IMPORT_RE = re.compile(r"^from wizard\.hostside\.\w+ import \w+\n", re.MULTILINE)
LEFTOVER_IMPORT_RE = re.compile(r"^\s*(?:from|import) wizard\b", re.MULTILINE)
FUTURE_IMPORT = "from __future__ import annotations\n"
_PREFIX_RE = re.compile(r"[A-Za-z0-9._-]+\Z")
_TOP_KEYS = {"server", "borg", "borgmatic", "state_dir", "repo_root", "lock_wait", "clock_skew"}
_CLIENT_KEYS = {
    "prefix",
    "retention",
    "max_new_per_day",
    "prune_config",
    "passphrase_file",
    "stale_after",
    "quota",
}
_OPTIONAL_CLIENT_KEYS = frozenset({"repository"})
_FOOTER = """

if __name__ == "__main__":
    raise SystemExit(
        main(sys.argv[1:], CONFIG, program=(sys.executable, os.path.abspath(sys.argv[0])))
    )
"""


def guard_program_path(state_dir: str) -> str:
    """Where the guard lives on the server: the borg user's borgkeep dir."""
    return posixpath.join(check_absolute_path("state_dir", state_dir), GUARD_FILE_NAME)


def guard_state_path(state_dir: str, client: str) -> str:
    """The guard's JSON state for one client (what `borgkeep status` reads)."""
    directory = check_absolute_path("state_dir", state_dir)
    return posixpath.join(directory, f"{check_name('client', client)}.guard.json")


ALERTS_FILE_NAME = "alerts.json"


def alerts_file_path(state_dir: str) -> str:
    """Where the guard finds its alert channels (0600: the URLs carry tokens)."""
    return posixpath.join(check_absolute_path("state_dir", state_dir), ALERTS_FILE_NAME)


def render_alerts_file(urls: dict[str, str]) -> str:
    """`{"ntfy": URL, "healthchecks": URL, "webhook": URL}` (any subset, `{}` for none)."""
    unknown = set(urls) - {"ntfy", "healthchecks", "webhook"}
    if unknown:
        raise FieldError("alerts", f"unknown channels {sorted(unknown)}")
    return json.dumps(dict(sorted(urls.items())), indent=1) + "\n"


def legacy_state_path(state_dir: str, client: str) -> str:
    """The older shell guard's state (`ID NAME` lines), which the guard migrates itself."""
    directory = check_absolute_path("state_dir", state_dir)
    return posixpath.join(directory, f"{check_name('client', client)}.archives")


def guard_command(
    python_path: str, guard_path: str, action: str, client: str, *numbers: str
) -> str:
    """The exact cron/operator command: `PYTHON -I GUARD ACTION CLIENT` (`rollback` takes
    the transaction to roll back to as well)."""
    from wizard.hostside.guard_main import COMMANDS  # the guard's own list, loaded on use

    if action not in COMMANDS:
        raise FieldError("action", f"{action!r} is not one of {', '.join(COMMANDS)}")
    if len(numbers) != (action == "rollback") or not all(n.isdigit() for n in numbers):
        raise FieldError("action", f"{action} {numbers!r}: rollback takes one transaction number")
    return shlex.join(
        [
            check_absolute_path("python_path", python_path),
            "-I",
            check_absolute_path("guard_path", guard_path),
            action,
            check_name("client", client),
            *numbers,
        ]
    )


def guard_init_command(python_path: str, guard_path: str, clients: Sequence[str]) -> str:
    """`PYTHON -I GUARD init C1 C2 ...`: several new repositories' baselines in one run."""
    first, *more = clients
    command = guard_command(python_path, guard_path, "init", first)
    return " ".join([command, *(shlex.quote(check_name("client", client)) for client in more)])


def guard_init_failures(
    clients: Sequence[str], stdout: str, stderr: str, all_done: bool
) -> dict[str, str]:
    """The clients of one `init C1 C2 ...` run whose baseline was not recorded, with the line
    that says why: a client is done when the run exited 0 (`all_done`) or its outcome line is
    on stdout; otherwise its line on stderr (or the run's last) tells."""
    from wizard.hostside.guard_text import MESSAGE_PREFIX  # the guard's own prefix

    failures = {}
    for client in clients:
        prefix = f"{MESSAGE_PREFIX}: {client}: "
        if all_done or any(line.startswith(prefix) for line in stdout.splitlines()):
            continue
        said = [line for line in stderr.splitlines() if line.startswith(prefix)]
        failures[client] = (said or stderr.strip().splitlines()[-1:] or ["no outcome line"])[0]
    return failures


def fleet_command(python_path: str, guard_path: str, action: str, *flags: str) -> str:
    """`PYTHON -I GUARD status [--json]` / `... health` / `... drill`: every client at once;
    `... check-all CLIENT...`: the named clients' checks in one pass."""
    from wizard.hostside.guard_main import FLEET_COMMANDS  # the guard's own list, loaded on use

    if action == "check-all":
        flags = tuple(check_name("client", client) for client in flags)
    elif action not in FLEET_COMMANDS or not set(flags) <= {"--json"}:
        raise FieldError("action", f"{action!r} {flags!r} is not status [--json], health or drill")
    return shlex.join(
        [
            check_absolute_path("python_path", python_path),
            "-I",
            check_absolute_path("guard_path", guard_path),
            action,
            *flags,
        ]
    )


def _whole(field: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FieldError(field, f"{value!r} is not a whole number >= {minimum}")
    return value


def _exact_keys(
    field: str, value: object, keys: set[str], optional: frozenset[str] = frozenset()
) -> dict:
    if not isinstance(value, dict):
        raise FieldError(field, "expected a mapping")
    missing, extra = sorted(keys - set(value)), sorted(set(value) - keys - optional)
    if missing or extra:
        raise FieldError(field, f"missing keys {missing}, unknown keys {extra}")
    return value


def _overlap(one: str, other: str) -> bool:
    """The same directory, or one inside the other."""
    return one == other or one.startswith(other + "/") or other.startswith(one + "/")


def _check_repository(field: str, value: object, repo_root: str, state_dir: str) -> str:
    """A client's own repository: absolute, normalised, clear of repo_root and state_dir."""
    repository = check_absolute_path(field, value)
    if repository != value or "//" in repository or posixpath.normpath(repository) != value:
        raise FieldError(field, f"{value!r} is not normalised (no '.', '//' or trailing '/')")
    if repository == "/":
        raise FieldError(field, "the repository cannot be '/'")
    if repository == repo_root or repo_root.startswith(repository + "/"):
        raise FieldError(field, f"{repository} holds repo_root {repo_root}")
    if _overlap(repository, state_dir):
        raise FieldError(field, f"{repository} overlaps state_dir {state_dir}")
    return repository


def _check_repositories_apart(repo_root: str, clients: dict) -> None:
    """No two clients' repositories (or where the guard hides them) the same or nested."""
    from wizard.hostside.guard_borg import hidden_path_of  # the guard's own rule

    places = {
        name: entry.get("repository") or posixpath.join(repo_root, name)
        for name, entry in clients.items()
    }
    names = sorted(places)
    for index, name in enumerate(names):
        for other in names[index + 1 :]:
            one, two = places[name], places[other]
            if _overlap(one, two) or two == hidden_path_of(one) or one == hidden_path_of(two):
                blamed = other if "repository" in clients[other] else name
                raise FieldError(
                    f"clients.{blamed}.repository",
                    f"{name}'s repository {one} and {other}'s {two} are the same, nested, or "
                    "one is where the guard hides the other",
                )


def check_guard_config(config: dict) -> dict:
    """CONFIG validated (see the module docstring), as a new dict; FieldError naming the field."""
    config = _exact_keys("config", config, _TOP_KEYS | {"clients"})
    checked: dict = {"server": check_name("server", config["server"])}
    for key in ("borg", "borgmatic", "state_dir", "repo_root"):
        checked[key] = check_absolute_path(key, config[key])
    checked["lock_wait"] = _whole("lock_wait", config["lock_wait"], 0)
    checked["clock_skew"] = _whole("clock_skew", config["clock_skew"], 0)
    if not isinstance(config["clients"], dict):
        raise FieldError("clients", "expected a mapping of client name to settings")
    checked["clients"] = {}
    for name, entry in config["clients"].items():
        where = f"clients.{check_name('clients', name)}"
        entry = _exact_keys(where, entry, _CLIENT_KEYS, _OPTIONAL_CLIENT_KEYS)
        prefix = entry["prefix"]
        if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
            raise FieldError(f"{where}.prefix", f"{prefix!r} is not a plain archive-name prefix")
        checked["clients"][name] = {
            "prefix": prefix,
            "retention": check_retention(f"{where}.retention", entry["retention"]),
            "max_new_per_day": _whole(f"{where}.max_new_per_day", entry["max_new_per_day"], 1),
            "stale_after": _whole(f"{where}.stale_after", entry["stale_after"], 1),
            "quota": _whole(f"{where}.quota", entry["quota"], 0),
            "prune_config": check_absolute_path(f"{where}.prune_config", entry["prune_config"]),
            "passphrase_file": check_absolute_path(
                f"{where}.passphrase_file", entry["passphrase_file"]
            ),
        }
        if "repository" in entry:
            checked["clients"][name]["repository"] = _check_repository(
                f"{where}.repository",
                entry["repository"],
                checked["repo_root"],
                checked["state_dir"],
            )
    _check_repositories_apart(checked["repo_root"], checked["clients"])
    return checked


def installed_guard_config(program: str | None) -> dict | None:
    """The CONFIG literal of an installed guard program (what it guards now), or None when
    there is no program or it holds no readable CONFIG."""
    marker = "\nCONFIG = "
    if not program or marker not in program:
        return None
    start = program.index(marker) + len(marker)
    try:
        config, _ = json.JSONDecoder().raw_decode(program, start)
    except ValueError:
        return None
    return config if isinstance(config, dict) else None


def hostside_module_source(module: str) -> str:
    """One hostside module's text without intra-package and `from __future__` imports."""
    text = (HOSTSIDE_DIR / f"{module}.py").read_text(encoding="utf-8")
    text = INTRA_PACKAGE_IMPORT_RE.sub("", text)
    if LEFTOVER_IMPORT_RE.search(text):
        raise ValueError(f"{module}: an import from wizard is not a one-name, one-line import")
    return text.replace(FUTURE_IMPORT, "")


def render_guard_program(config: dict) -> str:
    """The guard program for one server: header, CONFIG, the hostside modules, entry point."""
    checked = check_guard_config(config)
    header = (
        MANAGED_HEADER
        + f"# The borgkeep prune guard for server {checked['server']} (standard library only).\n"
        + "# Run it as the borg user with the server's own Python, isolated:\n"
        + f"#   PYTHON -I {guard_program_path(checked['state_dir'])} COMMAND CLIENT\n"
        + "# COMMAND: prune | check | init | acknowledge | inspect | restore-key CLIENT,\n"
        + "# rollback CLIENT N,\n"
        + "# or status | health | drill [CLIENT];\n"
        + "# --help explains them.\n"
        + "# Exit status: 0 ok, 1 failure, 2 usage, 3 refused.\n"
    )
    parts = [
        header,
        FUTURE_IMPORT,
        "\nCONFIG = " + json.dumps(checked, indent=1, sort_keys=True) + "\n",
    ]
    for module in GUARD_MODULES:
        parts.append(f"\n\n# ---- {module}.py " + "-" * (80 - len(module)) + "\n")
        parts.append(hostside_module_source(module))
    parts.append(_FOOTER)
    return "".join(parts)
