"""The engine never imports Textual: the CLI and scripts must work without the TUI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import wizard


def test_wizard_modules_do_not_load_textual():
    modules = [f"wizard.{m.name}" for m in pkgutil.walk_packages(wizard.__path__) if not m.ispkg]
    modules += [
        f"wizard.artefacts.{m.name}"
        for m in pkgutil.iter_modules([wizard.__path__[0] + "/artefacts"])
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(sys.modules)); assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (
        "wizard.cli" in modules
        and "wizard.engine" in modules
        and "wizard.artefacts.crontab" in modules
    )


def test_version_flag():
    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"borgkeep {wizard.__version__}"


def test_validate_reports_field_and_exits_1(tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "version: 1\nserver: {name: nas, ssh: 'root@nas;reboot'}\nretention: {keep_daily: 7}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "--inventory", str(inventory), "validate"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "server.ssh" in result.stderr and "inv.yaml:2" in result.stderr


def test_global_options_work_after_the_command_too(tmp_path):
    missing = tmp_path / "missing.yaml"
    for argv in (
        ["--inventory", str(missing), "validate"],
        ["validate", "--inventory", str(missing)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "wizard.cli", *argv], capture_output=True, text=True
        )
        assert result.returncode == 1
        assert str(missing) in result.stderr and "no such file" in result.stderr
