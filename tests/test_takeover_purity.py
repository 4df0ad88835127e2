"""wizard/takeover is pure discovery: standard library and PyYAML, never Textual, paramiko
or anything that opens a connection or runs a program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TAKEOVER = Path(__file__).resolve().parents[1] / "wizard" / "takeover"
FORBIDDEN = (
    "textual",
    "paramiko",
    "screens",
    "subprocess",
    "socket",
    "wizard.remote",
    "wizard.pipeline",
)


def test_importing_every_takeover_module_loads_nothing_forbidden() -> None:
    modules = sorted(
        f"wizard.takeover.{p.stem}" for p in TAKEOVER.glob("*.py") if p.stem != "__init__"
    )
    assert len(modules) >= 9
    code = (
        "import importlib, sys\n"
        f"before = set(sys.modules)\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "loaded = sorted(m for m in set(sys.modules) - before if m.startswith(forbidden))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_takeover_module_is_too_long() -> None:
    for path in TAKEOVER.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 420, path.name
