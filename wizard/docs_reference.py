"""The reference pages that come from the code: the command line (from `build_parser`) and
the inventory's keys (from the model's key lists), written between the GENERATED markers of
docs/reference/command-line.md and docs/reference/inventory.md.

    python -m wizard.docs_reference           # rewrite the generated parts
    python -m wizard.docs_reference --check   # exit 1 when a page is stale

Pure text in, text out: `tests/test_docs_reference.py` fails when a command, an option or an
inventory key has no entry here, or when a page differs from what this module renders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wizard.checks.fields import KEEP_COUNT_KEYS, MAX_KEEP, RETENTION_KEYS
from wizard.cli import build_parser
from wizard.inventory.model import (
    ALERT_KEYS,
    CLIENT_KEYS,
    DEFAULT_RETENTION,
    SERVER_KEYS,
    TOP_KEYS,
)
from wizard.inventory.settings import DEFAULT_PRUNE_SCHEDULE

BEGIN = "<!-- BEGIN GENERATED: python -m wizard.docs_reference -->\n"
END = "<!-- END GENERATED -->\n"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "reference"
GLOBAL_OPTIONS = ("--inventory", "--accept-new-host-keys", "--connect-timeout")

# Per command: its exit codes and what `--json` prints (a new command needs its line here).
COMMAND_NOTES: dict[str | None, str] = {
    None: "Opens the wizard on the inventory. Exit 0 when it ends, 1 when an apply failed or "
    "was cancelled, with a message on stderr saying what was not applied.",
    "validate": "Reads the inventory and connects nowhere. Exit 0 valid, 1 invalid (every "
    "error names the field and the line).",
    "plan": "Gathers facts read-only and prints every change. Exit 0 nothing to change, 2 "
    "changes, 1 error (or a host that could not be checked). `--json`: see "
    "[JSON shapes](#json-shapes).",
    "apply": "Plans again under the server's lock, asks unless `--yes` (without a terminal "
    "`--yes` is needed), applies, then verifies. With `PLANFILE` it applies exactly that "
    "plan or refuses. Exit 0 done (or nothing to do), 1 error, refusal, answer no, or "
    "interrupted.",
    "verify": "The post-apply proofs, read-only. Exit 0 every proof passed, 1 otherwise.",
    "status": "The fleet's health, read from the server alone. Exit 0 every client `ok`, 2 "
    "any needs attention, 1 error. `--json`: see [JSON shapes](#json-shapes).",
    "remove": "A lifecycle command (see below). `--purge-repository` must repeat CLIENT: "
    "any other value exits 1 before connecting anywhere.",
    "rotate-key": "A lifecycle command (see below).",
    "recover": "A lifecycle command (see below). Without `--acknowledge` or `--rollback` it "
    "shows what vanished and exits 2 (a choice is pending).",
    "restore": "A lifecycle command (see below). PATH is absolute, as it was on the client.",
    "passphrase": "Stores the passphrase of a client's repository in the secrets store (one "
    "line from stdin, or asked without echo on a terminal). Exit 0 stored, 1 unknown client "
    "or empty passphrase.",
    "demo": "Needs root. Exit 0 when every step went as shown, 1 (with a message) otherwise.",
}

# Arguments the parser leaves without help text, by metavar.
ARGUMENT_NOTES = {"CLIENT": "the client's name in the inventory"}


def help_of(action: argparse.Action) -> str:
    return action.help or ARGUMENT_NOTES.get(action.metavar or "", "")


_RETENTION_RULE = f"a whole number from 0 to {MAX_KEEP:,}"
# Every inventory key: (default, rule). Keys are dotted: `clients[].name`.
INVENTORY_KEYS: dict[str, tuple[str, str]] = {
    "version": ("required", "`1`"),
    "server": ("required", "a mapping (below)"),
    "retention": ("required", "a mapping of keep_* (below); at least one above 0"),
    "clients": ("`[]`", "a list of mappings (below)"),
    "alerts": ("none", "a mapping (below); every channel optional"),
    "server.name": ("required", "`[a-z0-9][a-z0-9._-]*`, at most 64; used in file names"),
    "server.ssh": ("required", "`[user@]host[:port]` or a `~/.ssh/config` alias"),
    "server.address": ("from `ssh`", "`host[:port]`: how clients reach the server"),
    "server.borg_user": (
        "`borg` for a root login (created if missing); else the ssh user",
        "`[a-z_][a-z0-9_-]*`, at most 32",
    ),
    "server.repo_root": (
        "`/backups` for a root login; else `~borg_user/backups`",
        "an absolute path Borgkeep may write (`/` then letters, digits, `. _ / + @ -`; no `..`); "
        "never `/`",
    ),
    "server.prune_schedule": (
        f'`"{DEFAULT_PRUNE_SCHEDULE}"`',
        "a cron expression: when the guard prunes and compacts",
    ),
    "server.drill_schedule": ("off", "a cron expression: when the restore drill runs"),
    "clients[].name": ("required", "like `server.name`; unique"),
    "clients[].ssh": ("required", "like `server.ssh`; one host, one client"),
    "clients[].source_directories": (
        "required",
        "absolute paths; spaces, quotes and non-ASCII are fine (see below)",
    ),
    "clients[].exclude_patterns": ("`[]`", "Borg patterns (see below)"),
    "clients[].schedule": (
        "a stable time between 01:00 and 05:59 from the name",
        "a cron expression: when the client backs up",
    ),
    "clients[].retention": ("the fleet's `retention`", "keep_* merged over the fleet's"),
    "clients[].quota": ("none", "Borg's `--storage-quota`: a number with `K M G T P`, >= 10M"),
    "clients[].repository": (
        "`{repo_root}/{name}`",
        "an absolute path on the server, written plainly; never `/`; not one or nested with "
        "another client's. An existing repository there is taken over",
    ),
    "clients[].archive_prefix": (
        "`{name}-`",
        "1 to 64 letters, digits, `. _ -`, starting with a letter or digit; no `{placeholders}`",
    ),
    "alerts.email": ("none", "one address: the borg user's crontab `MAILTO`"),
    "alerts.ntfy": ("none", "an ntfy topic URL (`https://ntfy.sh/TOPIC`): problems; a secret"),
    "alerts.healthchecks": ("none", "a Healthchecks ping URL: `/fail` on problems; a secret"),
    "alerts.webhook": ("none", "an http(s) URL: problems as a JSON POST; a secret"),
    "alerts.stale_after": (
        "twice the longest gap of the client's schedule",
        "a duration (`90m`, `36h`, `2d`, `1w`): when a client's newest archive is stale",
    ),
    **{
        f"retention.{key}": (
            f"`{DEFAULT_RETENTION[key]}` (the wizard's proposal)"
            if key in DEFAULT_RETENTION
            else "none",
            _RETENTION_RULE,
        )
        for key in KEEP_COUNT_KEYS
    },
    "retention.keep_within": ("none", "a number and one of `H d w m y` (`36H`, `2w`)"),
}


def inventory_key_names() -> list[str]:
    """Every key the inventory parser accepts, dotted, from the model's own lists."""
    return [
        *TOP_KEYS,
        *(f"server.{key}" for key in SERVER_KEYS),
        *(f"clients[].{key}" for key in CLIENT_KEYS),
        *(f"alerts.{key}" for key in ALERT_KEYS),
        *(f"retention.{key}" for key in RETENTION_KEYS),
    ]


def render_inventory() -> str:
    lines = ["| key | default | rule |", "|---|---|---|"]
    for key in inventory_key_names():
        default, rule = INVENTORY_KEYS[key]
        lines.append(f"| `{key}` | {default} | {rule} |")
    return "\n".join(lines) + "\n"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser, skip: tuple[str, ...]) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        names = action.option_strings or [action.metavar or action.dest.upper()]
        if names[0] in skip:
            continue
        if action.option_strings and action.nargs != 0:
            shown = f"{' / '.join(names)} {action.metavar or action.dest.upper()}"
        else:
            shown = " / ".join(names)
        help_text = help_of(action).replace("|", "\\|")
        rows.append(f"| `{shown}` | {help_text} |")
    if not rows:
        return ["No options of its own."]
    return ["| option | what it does |", "|---|---|", *rows]


def render_command_line() -> str:
    parser = build_parser()
    lines = ["## borgkeep", "", COMMAND_NOTES[None], "", *_options(parser, ())]
    commands = subcommands(parser)
    helps = {
        choice.dest: choice.help
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
    }
    for name, sub in commands.items():
        usage = " ".join(sub.format_usage().split()).removeprefix("usage: ")
        summary = helps.get(name) or ""
        lines += ["", f"## borgkeep {name}", "", f"{summary[:1].upper()}{summary[1:]}.", ""]
        lines += ["```text", usage, "```", "", COMMAND_NOTES[name], ""]
        lines += _options(sub, GLOBAL_OPTIONS)
    return "\n".join(lines) + "\n"


PAGES = {"command-line.md": render_command_line, "inventory.md": render_inventory}


def spliced(text: str, generated: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}{generated}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for name, render in PAGES.items():
        path = DOCS / name
        text = path.read_text()
        fresh = spliced(text, render())
        if fresh != text:
            stale.append(name)
            if not check:
                path.write_text(fresh)
    if check and stale:
        print(f"stale: {', '.join(stale)}; run python -m wizard.docs_reference", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
