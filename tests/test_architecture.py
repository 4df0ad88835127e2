"""The shape of the house, read from the import graph (not only from what gets loaded):

- the engine (`wizard/`, outside the lab) imports neither Textual, the screens nor the lab;
- the screens reach the engine only through its front door (`wizard.session`, the reports,
  and the inventory they edit); only the launcher sits above both and may import anything;
- no engine module is over about 400 lines.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wizard

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "wizard"
LAB = ENGINE / "lab"
SCREENS = ROOT / "screens"
LAUNCHER = SCREENS / "launcher.py"
FRONT_DOOR = ("wizard.session", "wizard.reports", "wizard.inventory")
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function, absolute or relative."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def engine_files() -> list[Path]:
    return [p for p in ENGINE.rglob("*.py") if LAB not in p.parents]


def _matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_is_read_from_real_files() -> None:
    files = {module_name(p) for p in engine_files()}
    assert {"wizard.session", "wizard.cli", "wizard.pipeline.apply"} <= files
    assert "wizard.lab.lab" not in files
    assert "wizard.session" in imported_modules(SCREENS / "review.py")


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: module_name(p))
def test_engine_module_never_imports_the_ui_or_the_lab(path: Path) -> None:
    bad = sorted(
        m for m in imported_modules(path) if _matches(m, ("textual", "screens", "wizard.lab"))
    )
    assert not bad, f"{module_name(path)} imports {bad}: arrows must point into the engine"


@pytest.mark.parametrize(
    "path", [p for p in SCREENS.glob("*.py") if p != LAUNCHER], ids=lambda p: p.stem
)
def test_screens_use_only_the_front_door(path: Path) -> None:
    engine = {m for m in imported_modules(path) if _matches(m, ("wizard",))}
    behind = sorted(m for m in engine if not _matches(m, FRONT_DOOR) and m != "wizard")
    assert not behind, f"screens/{path.name} reaches past the session: {behind}"


def test_the_lab_is_not_imported_by_the_screens_either() -> None:
    for path in SCREENS.glob("*.py"):
        if path == LAUNCHER:
            continue
        assert not any(_matches(m, ("wizard.lab",)) for m in imported_modules(path)), path


@pytest.mark.parametrize("path", [*engine_files(), *LAB.glob("*.py")], ids=module_name)
def test_no_engine_module_is_too_long(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines: split it by what it does"


def test_importing_every_engine_module_loads_no_textual() -> None:
    modules = sorted(module_name(p) for p in engine_files())
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'screens'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_version_flag():
    result = subprocess.run(
        [sys.executable, "-m", "screens.launcher", "--version"], capture_output=True, text=True
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


@pytest.mark.parametrize(
    ("argv", "heavy"),
    [
        (["--version"], ("textual", "paramiko", "croniter", "yaml", "keyring")),
        (["validate"], ("textual", "paramiko", "keyring")),
    ],
)
def test_light_commands_import_neither_the_ui_nor_ssh(tmp_path, argv, heavy) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\nserver: {name: nas, ssh: root@nas}\nretention: {keep_daily: 7}\n"
        "clients:\n  - {name: h1, ssh: lab-h1, source_directories: [/srv], schedule: '0 3 * * *'}\n"
    )
    code = (
        "import sys\n"
        "from screens.launcher import main\n"
        f"code = main(['--inventory', {str(inventory)!r}, *{argv!r}]) if {argv!r} != ['--version'] "
        "else None\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules})\n"
        f"print([m for m in loaded if m in {heavy!r}])\n"
    )
    if argv == ["--version"]:
        code = code.replace(
            "code = main",
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\ncode = main",
        )
    # validate reads the ssh config (one host, one client): a plain one, not the developer's
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host lab-h1\n  HostName 127.0.0.1\n  Port 2201\n")
    env = {**os.environ, "BORGKEEP_SSH_CONFIG": str(ssh_config)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
