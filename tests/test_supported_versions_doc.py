"""docs/reference/supported-versions.md tells the truth: its tables are generated from the table of
proven releases (wizard/artefacts/proven_versions.py) and the version rules
(wizard/artefacts/borgmatic_versions.py) that the renderers and the version matrix use.

After changing either, regenerate the tables with:
    BORGKEEP_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_supported_versions_doc.py
"""

from __future__ import annotations

import os
from pathlib import Path

from wizard.artefacts import borgmatic_versions as bv
from wizard.artefacts.proven_versions import PROVEN_BORG, PROVEN_BORGMATIC, ProvenRelease

DOC = Path(__file__).resolve().parent.parent / "docs" / "reference" / "supported-versions.md"
BEGIN = "<!-- BEGIN GENERATED: tests/test_supported_versions_doc.py -->\n"
END = "<!-- END GENERATED -->\n"


def _source(release: ProvenRelease) -> str:
    if release.lab_dir is None:
        return "Debian 12 package"
    return f"PyPI, with {', '.join(release.pins)}"


def _borgmatic_row(release: ProvenRelease) -> str:
    version = release.version
    layout = (
        "sectioned (`location`, `storage`, `retention`, `consistency`, `hooks`)"
        if bv.is_sectioned(version)
        else "flat"
    )
    selection = "`match_archives`" if bv.supports_match_archives(version) else "`prefix`"
    if bv.supports_skip_actions(version):
        guard = "`skip_actions: [prune, compact]`"
        server_guard = "`skip_actions: [create, check]`"
        bare = "backs up and checks; skips prune and compact (exit 0)"
    else:
        guard = "failing `before_prune` / `before_compact` hooks"
        server_guard = "failing `before_backup` / `before_check` hooks"
        if bv.bare_run_creates_first(version):
            bare = "backs up, then stops at the prune guard (exit 1)"
        else:
            bare = "stops at the prune guard before any backup (exit 1)"
    validator = bv.validate_config_command(
        borgmatic_version=version, borgmatic_path="borgmatic", config_path="FILE"
    )
    cells = [
        version,
        release.why,
        _source(release),
        layout,
        selection,
        guard,
        bare,
        server_guard,
        f"`{' '.join(validator)}`",
    ]
    return "| " + " | ".join(cells) + " |\n"


def generated_tables() -> str:
    borgmatic = (
        "| borgmatic | why proven | installed from | config layout | archive selection "
        "| client guard against prune/compact | bare `borgmatic` with the client config "
        "| server guard against create/check | validator |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    ) + "".join(_borgmatic_row(release) for release in PROVEN_BORGMATIC)
    borg = "| Borg | why proven | installed from |\n|---|---|---|\n" + "".join(
        f"| {release.version} | {release.why} | {_source(release)} |\n" for release in PROVEN_BORG
    )
    summary = (
        f"Proven: borgmatic {PROVEN_BORGMATIC[0].version} to {PROVEN_BORGMATIC[-1].version} "
        f"({len(PROVEN_BORGMATIC)} releases) and Borg "
        f"{' and '.join(release.version for release in PROVEN_BORG)}.\n"
    )
    return f"{summary}\n### borgmatic\n\n{borgmatic}\n### Borg\n\n{borg}"


def test_the_doc_tables_match_the_proven_table() -> None:
    text = DOC.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{DOC}: markers missing"
    head, rest = text.split(BEGIN)
    body, tail = rest.split(END)
    wanted = generated_tables()
    if body != wanted and os.environ.get("BORGKEEP_UPDATE_DOCS") == "1":
        DOC.write_text(head + BEGIN + wanted + END + tail)
        body = wanted
    assert body == wanted, (
        f"{DOC} is out of date; regenerate it with:\n"
        "BORGKEEP_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_supported_versions_doc.py"
    )
