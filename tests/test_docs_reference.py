"""The generated reference pages tell the truth: every command and option of the parser and
every key the inventory accepts has an entry, and docs/reference/command-line.md and
docs/reference/inventory.md are what `python -m wizard.docs_reference` renders.

After changing the parser or the inventory's keys, regenerate with:
    .venv/bin/python -m wizard.docs_reference
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from wizard import docs_reference as ref
from wizard.cli import build_parser

DOCS = ref.DOCS


def _generated(name: str) -> str:
    text = (DOCS / name).read_text()
    assert ref.BEGIN in text and ref.END in text, f"{name} lost its GENERATED markers"
    return text.split(ref.BEGIN, 1)[1].split(ref.END, 1)[0]


def test_every_command_has_its_exit_codes_written():
    commands = set(ref.subcommands(build_parser()))
    notes = set(ref.COMMAND_NOTES) - {None}
    assert commands - notes == set(), "a command without its line in COMMAND_NOTES"
    assert notes - commands == set(), "COMMAND_NOTES names a command the parser lost"


def test_every_command_and_option_is_on_the_page():
    page = _generated("command-line.md")
    parser = build_parser()
    parsers = {"": parser, **ref.subcommands(parser)}
    for name, sub in parsers.items():
        if name:
            assert f"\n## borgkeep {name}\n" in page, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            what = action.option_strings or action.dest
            assert ref.help_of(action), f"borgkeep {name} {what}: no help (or ARGUMENT_NOTES)"
            for option in action.option_strings:
                assert f"`{option}" in page or f" / {option}" in page, f"{name} {option}"


def test_every_inventory_key_has_an_entry():
    keys = ref.inventory_key_names()
    assert set(keys) == set(ref.INVENTORY_KEYS), (
        set(keys) ^ set(ref.INVENTORY_KEYS),
        "add the key to INVENTORY_KEYS (or drop the one the parser no longer accepts)",
    )
    page = _generated("inventory.md")
    for key in keys:
        default, rule = ref.INVENTORY_KEYS[key]
        assert default and rule, key
        assert f"| `{key}` |" in page, key


def test_the_generated_pages_are_current():
    for name, render in ref.PAGES.items():
        assert _generated(name) == render(), (
            f"docs/reference/{name} is stale: run .venv/bin/python -m wizard.docs_reference"
        )
    assert ref.main(["--check"]) == 0


ROOT = DOCS.parents[1]
TWO_COMMANDS = (
    "bash scripts/bootstrap.sh && .venv/bin/borgkeep demo\n",
    "bash scripts/run-tests.sh\n",
)


def _links(page: Path) -> set[Path]:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", page.read_text())
    return {(page.parent / t).resolve() for t in targets if not t.startswith("http")}


def test_every_docs_page_is_linked_from_the_readme_and_the_index():
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")}
    index = ROOT / "docs" / "README.md"
    assert pages - {index.resolve()} <= _links(ROOT / "README.md"), "README.md misses a page"
    assert pages - {index.resolve()} <= _links(index), "docs/README.md misses a page"
    for page in [ROOT / "README.md", *pages]:
        missing = [str(t) for t in _links(Path(page)) if not t.exists()]
        assert not missing, f"{page} links to {missing}"


def test_the_readme_is_short_and_gives_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert 150 <= len(text.splitlines()) <= 250
    for command in TWO_COMMANDS:
        assert command in text, command
