"""The shape of the house, read from the import graph (not only from what gets loaded):

- the engine (`wizard/`, outside the lab) imports neither Textual, the screens nor the lab;
- the screens reach the engine only through its front door (`wizard.session`, the reports,
  and the inventory they edit); only the launcher sits above both and may import anything;
- inside `wizard/`, every import (at the top or inside a function) points down the layer
  order the code map draws (`LAYERS`; docs/development/code-map.md draws it, and a test
  holds the drawing to it), outside a short list of named exceptions, and no import cycle
  is left;
- no module (of the engine or the screens) is over 400 lines and no function of the engine
  over 60, outside a short named list.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

import wizard

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "wizard"
LAB = ENGINE / "lab"
SCREENS = ROOT / "screens"
LAUNCHER = SCREENS / "launcher.py"
FRONT_DOOR = ("wizard.session", "wizard.reports", "wizard.inventory")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# The engine's layers, bottom first (docs/development/code-map.md draws them, top first). A
# module may import its own layer and any layer below it; every module of `wizard/` belongs
# to exactly one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundations", ("wizard", "wizard.safe_text", "wizard.secrets_store", "wizard.hostside")),
    ("checks", ("wizard.checks",)),
    ("artefacts", ("wizard.artefacts",)),
    ("takeover", ("wizard.takeover",)),
    ("remote", ("wizard.remote",)),
    ("inventory", ("wizard.inventory",)),
    ("pipeline", ("wizard.pipeline",)),
    ("reports", ("wizard.reports",)),
    ("front door", ("wizard.probe", "wizard.session")),
    (
        "command line",
        ("wizard.cli", "wizard.docs_reference"),
    ),
    ("lab", ("wizard.lab",)),
)

# (importer, imported): why this arrow may point up. Keep it short; remove an entry when the
# arrow goes (a test fails on an entry no import needs any more).
UPWARD_IMPORTS: dict[tuple[str, str], str] = {
    (
        "wizard.artefacts.carried_options",
        "wizard.takeover.borgmatic_options",
    ): "renders what a found config carries: takes takeover's ConfigOptions (issue 21 wip)",
}

# Runtime import cycles (imports under `if TYPE_CHECKING:` cannot close one) left on purpose.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}

# Modules over MAX_MODULE_LINES: why each may stay long for now.
LONG_MODULES: dict[str, str] = {
    "wizard.pipeline.takeover_plan": "issue 21's takeover, still growing: split when it lands",
    "wizard.takeover.command_lines": "one grammar (a job's shell words) read in one place",
    "wizard.takeover.scheduled_jobs": "cron and systemd jobs side by side: split by source",
    "wizard.hostside.guard_main": "the guard's command line, one file on the host's side",
}

# Functions over MAX_FUNCTION_LINES ("module:function"): why each may stay long for now.
LONG_FUNCTIONS: dict[str, str] = {
    "wizard.artefacts.borgmatic_client:render_client_config": "one YAML document, key by key",
    "wizard.hostside.guard_decision:decide": "the guard's whole rule in order, proven case by case",
    "wizard.hostside.guard_prune:_prune_hidden": "the prune's steps on the host, in order",
    "wizard.hostside.guard_health:judge_client": "one verdict per client, every rule in order",
    "wizard.pipeline.takeover_plan:plan_takeover": "issue 21's takeover, still growing",
    "wizard.pipeline.existing_setup:existing_setup_warnings": "issue 21: one warning per finding",
    "wizard.pipeline.desired.server_prune:server_prune": "the prune phase's items, in order",
    "wizard.pipeline.desired.client_setup:client_setup": "the client phase's items, in order",
    "wizard.pipeline.desired.server_access:server_access": "the access phase's items, in order",
    "wizard.pipeline.lifecycle.recover:recovery_items": "a recovery's items, in apply's order",
    "wizard.pipeline.lifecycle.remove:server_removal": "a removal's server items, in order",
    "wizard.pipeline.lifecycle.rotate:rotation_items": "a rotation's items, in apply's order",
    "wizard.lab.demo:run_demo": "the demo's script, one step after another",
    "wizard.remote.transport:connect": "one connection's handshake and authentication, in order",
    "wizard.remote.transport:run": "one remote process: start, feed, read, bound and close",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function, absolute or relative."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _package_of(path, module_name(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, package)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _package_of(path: Path, name: str) -> str:
    return name.rsplit(".", 1)[0] if path.name != "__init__.py" else name


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` names, relative ones resolved against `package`."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


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


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in ENGINE.rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of import nodes under `if TYPE_CHECKING:` (types only: never run)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                guarded.update(id(n) for n in ast.walk(stmt))
    return guarded


def wizard_imports(
    path: Path, modules: Collection[str], name: str | None = None
) -> set[tuple[str, bool]]:
    """The `wizard` modules a file imports (the module itself, not its parent packages),
    each with whether the import runs (False: only under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _package_of(path, name or module_name(path))
    guarded = _type_checking_only(tree)
    found: set[tuple[str, bool]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, package)
            names = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                for alias in node.names
            ]
        found.update((name, id(node) not in guarded) for name in names if name in modules)
    return found


def layer_of(module: str) -> int:
    for index, (_name, prefixes) in enumerate(LAYERS):
        if module in prefixes or any(module.startswith(p + ".") for p in prefixes if p != "wizard"):
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS (and the code map)")


def upward_imports() -> set[tuple[str, str]]:
    modules = all_modules()
    return {
        (importer, imported)
        for importer, path in modules.items()
        for imported, _runs in wizard_imports(path, modules)
        if layer_of(imported) > layer_of(importer)
    }


def test_every_module_has_a_layer() -> None:
    assert {LAYERS[layer_of(m)][0] for m in all_modules()} == {name for name, _ in LAYERS}


def test_the_code_map_draws_the_layers_in_their_order() -> None:
    """The drawing in docs/development/code-map.md names every layer, top first, in the
    order `LAYERS` checks: the page a newcomer reads is the rule the test enforces."""
    page = (ROOT / "docs" / "development" / "code-map.md").read_text()
    drawing = page.split("```\n", 2)[1]
    names = {name for name, _ in LAYERS}
    drawn = [
        name
        for line in drawing.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
        for name in names
        if line[2:].startswith(name + "  ")
    ]
    assert drawn == [name for name, _ in reversed(LAYERS)], drawn


def test_every_import_points_down_the_layers() -> None:
    upward = upward_imports()
    bad = sorted(
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, b in upward - UPWARD_IMPORTS.keys()
    )
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)
    stale = sorted(UPWARD_IMPORTS.keys() - upward)
    assert not stale, f"no longer needed, remove them from UPWARD_IMPORTS: {stale}"


def import_cycles() -> list[frozenset[str]]:
    """The strongly connected components of the runtime import graph (Tarjan)."""
    modules = all_modules()
    graph = {
        m: sorted(i for i, runs in wizard_imports(p, modules) if runs and i != m)
        for m, p in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle() -> None:
    cycles = set(import_cycles())
    bad = [sorted(c) for c in cycles - ALLOWED_CYCLES.keys()]
    assert not bad, f"import cycles: {bad}"
    stale = [sorted(c) for c in ALLOWED_CYCLES.keys() - cycles]
    assert not stale, f"no longer a cycle, remove them from ALLOWED_CYCLES: {stale}"


def test_the_layer_test_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    modules = {"wizard.remote.scripts", "wizard.checks.fields", "wizard.pipeline.facts"}
    fake = tmp_path / "example.py"
    fake.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from wizard.pipeline import facts\n"
        "def f():\n    from wizard.remote import scripts\n"
        "from . import fields\n"
    )
    assert wizard_imports(fake, modules, name="wizard.checks.example") == {
        ("wizard.pipeline.facts", False),
        ("wizard.remote.scripts", True),
        ("wizard.checks.fields", True),
    }


def _long_functions(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        f"{module_name(path)}:{node.name}": node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }


def test_no_module_is_too_long() -> None:
    """The engine's modules and the screens' alike (no screen is on the list)."""
    long = {
        module_name(p): n
        for p in [*ENGINE.rglob("*.py"), *SCREENS.glob("*.py")]
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    bad = {m: n for m, n in long.items() if m not in LONG_MODULES}
    assert not bad, f"over {MAX_MODULE_LINES} lines, split them by what they do: {bad}"
    stale = sorted(LONG_MODULES.keys() - long.keys())
    assert not stale, f"short enough now, remove them from LONG_MODULES: {stale}"


def test_no_function_is_too_long() -> None:
    long: dict[str, int] = {}
    for path in ENGINE.rglob("*.py"):
        long.update(_long_functions(path))
    bad = {f: n for f, n in long.items() if f not in LONG_FUNCTIONS}
    assert not bad, f"over {MAX_FUNCTION_LINES} lines, split them: {bad}"
    stale = sorted(LONG_FUNCTIONS.keys() - long.keys())
    assert not stale, f"short enough now, remove them from LONG_FUNCTIONS: {stale}"


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
