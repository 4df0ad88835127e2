"""The wizard at fleet size: time to first render and keypress-to-redraw of the review, the
welcome's health table and the clients table, for N clients (issue 27, items 4 and 5).

Not a test (no `test_` prefix) and never asserts; it prints medians over a few
repetitions. Each measurement runs the real screens headless in Textual's pilot
(`App.run_test`) on hand-made state, as tests/screens do: no lab, no SSH. The review's
plan is the real planner's for N clients (6 changes per client, and the server's 3 per
client plus its own); the welcome's health report is parsed from a guard's `status --json`
of N clients; the clients step holds N checked clients.

    .venv/bin/python tests/bench/bench_tui.py [--sizes 20,50,100] [--reps 3]

A "first render" is from entering `run_test` (the app's own start-up included) until the
screen shows its content and the pilot is idle; a key is from the press until the pilot
is idle again with the new content drawn (each checked, so nothing is timed that did not
happen).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "screens")]

from textual.widgets import DataTable, Input  # noqa: E402

from screens import client_checks  # noqa: E402
from screens.app import BorgkeepApp  # noqa: E402
from screens.plan_viewer import PlanViewer  # noqa: E402
from screens.state import WizardState  # noqa: E402
from tests.planning import client_facts, fresh_fleet, plan_for, server_facts  # noqa: E402
from wizard.inventory.model import save_inventory  # noqa: E402
from wizard.inventory.parse import parse_inventory  # noqa: E402
from wizard.inventory.settings import resolve_server  # noqa: E402
from wizard.pipeline.facts import UserInfo  # noqa: E402
from wizard.pipeline.status import StatusReport, guard_by_hand, parse_status  # noqa: E402
from wizard.remote.identity import RUNUSER, RunAs  # noqa: E402
from wizard.session import FleetSession  # noqa: E402

SIZE = (120, 40)
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
GIB = 1024**3
Timings = dict[str, float]


def inventory_text(n: int) -> str:
    clients = "".join(
        f"  - {{name: c{i:03d}, ssh: root@c{i:03d}.lan, source_directories: [/etc, /srv]}}\n"
        for i in range(n)
    )
    return (
        "version: 1\nserver: {name: nas, ssh: root@nas.lan, repo_root: /srv/backups}\n"
        f"retention: {{keep_daily: 7, keep_weekly: 4}}\nclients:\n{clients}"
    )


def planned_state(n: int, directory: Path) -> WizardState:
    """As after the clients step (conftest.fixed_state) for N clients, with the real plan."""
    inventory, settings, facts, passphrases = fresh_fleet(inventory_text(n))
    state = WizardState.from_inventory(directory / "inventory.yaml", None)
    state.load(inventory)
    state.saved = None
    state.now = NOW.replace(tzinfo=None)
    state.server_facts = server_facts(free_space={"/srv/backups": 512 * GIB})
    state.server_facts_for = state.server_ssh
    for client in state.clients:
        client.facts = facts[client.name]
    state.plan = plan_for(inventory, settings, facts, passphrases)[1]
    return state


def status_report(n: int) -> StatusReport:
    """The guard's report of N clients: one in ten refused, never or stale, the rest ok."""
    kinds = ["ok"] * 7 + ["refused", "never", "stale"]
    clients = []
    for i in range(n):
        name, state = f"c{i:03d}", kinds[i % len(kinds)]
        when = "2025-03-10T04:05:00+00:00" if state == "stale" else "2025-03-14T09:12:03+00:00"
        clients.append(
            {
                "name": name,
                "state": state,
                "archives": 0 if state == "never" else 40,
                "size": 0 if state == "never" else 18 * GIB,
                **(
                    {}
                    if state == "never"
                    else {"newest_archive": {"name": f"{name}-{when[:19]}", "time": when}}
                ),
                "quota": {"used": 19 * GIB, "limit": 50 * GIB},
                "guard": {"last_run": "2025-03-14T07:30:01+00:00", "last_result": None},
                "problems": [] if state == "ok" else [f"{state}: made up for the bench"],
            }
        )
    guard = {
        "time": NOW.isoformat(),
        "server": {"name": "nas", "repo_root": "/srv/backups", "free": 412 * GIB,
                   "total": 1863 * GIB, "low_space": False},
        "clients": clients,
    }  # fmt: skip
    inventory = parse_inventory(inventory_text(n))
    facts = server_facts(
        python_path="/usr/bin/python3", users={"borg": UserInfo("borg", 999, 999, "/home/borg")}
    )
    settings = resolve_server(inventory, "root", "nas.lan", 22)
    by_hand = guard_by_hand(facts, settings, RunAs("borg", "/home/borg", RUNUSER), "root@nas.lan")
    return parse_status(json.dumps(guard), inventory, by_hand)


async def until(pilot, done: Callable[[], bool]) -> None:
    """Pause the pilot until `done()` (at most 500 pauses)."""
    for _ in range(500):
        if done():
            await pilot.pause()
            return
        await pilot.pause()
    raise RuntimeError("the screen never got there")


async def timed(
    out: Timings, name: str, pilot, keys: tuple[str, ...], done: Callable[[], bool]
) -> None:
    """`keys` pressed until `done()`: the wall time as `name`, and the process's CPU time
    as `name, CPU` (the work done on the UI thread, which the machine's load inflates far
    less than the wall time)."""
    start, cpu = time.perf_counter(), time.process_time()
    await pilot.press(*keys)
    await until(pilot, done)
    out[name] = time.perf_counter() - start
    out[f"{name}, CPU"] = time.process_time() - cpu


async def floor(out: Timings, name: str, pilot) -> None:
    """A key nothing is bound to: what the pilot's own waiting for idle costs."""
    await timed(out, name, pilot, ("f20",), lambda: True)


async def bench_review(n: int, directory: Path) -> Timings:
    state = planned_state(n, directory)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=4)
    out: Timings = {}
    start, cpu = time.perf_counter(), time.process_time()
    async with app.run_test(size=SIZE) as pilot:
        viewer = lambda: app.screen.query_one(PlanViewer)  # noqa: E731
        await until(pilot, lambda: viewer().shown is not None)
        out["review: first render"] = time.perf_counter() - start
        out["review: first render, CPU"] = time.process_time() - cpu
        tree = viewer().tree
        await pilot.press("down", "down")  # to the server's row, then its first change (shown)
        await until(pilot, lambda: tree.cursor_line == 1)
        before = viewer().shown
        await floor(out, "review: unbound key (floor)", pilot)
        await timed(out, "review: down", pilot, ("down",), lambda: viewer().shown is not before)
        wrapped = viewer().wrap_choice
        await timed(out, "review: w", pilot, ("w",), lambda: viewer().wrap_choice != wrapped)
        await timed(out, "review: m", pilot, ("m",), lambda: app.screen.maximized is not None)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.maximized is None)
        assert tree.cursor_node is not None
        out["review: changes"] = len(state.plan.changes)
    return out


async def bench_welcome(n: int, directory: Path) -> Timings:
    path = directory / "inventory.yaml"
    save_inventory(parse_inventory(inventory_text(n)), path)
    report = status_report(n)
    FleetSession.status = lambda self: report  # ctrl+r asks "the server" again
    app = BorgkeepApp(path)
    app.state.now = NOW
    app.state.status = report
    out: Timings = {}
    start, cpu = time.perf_counter(), time.process_time()
    async with app.run_test(size=SIZE) as pilot:
        table = lambda: app.screen.query_one("#status-table", DataTable)  # noqa: E731
        await until(pilot, lambda: table().row_count == n and table().display)
        out["welcome: first render"] = time.perf_counter() - start
        out["welcome: first render, CPU"] = time.process_time() - cpu
        await floor(out, "welcome: unbound key (floor)", pilot)
        await timed(out, "welcome: down", pilot, ("down",), lambda: table().cursor_row == 1)
        await timed(
            out,
            "welcome: ctrl+r",
            pilot,
            ("ctrl+r",),
            lambda: (
                not any(w.group == "status" and not w.is_finished for w in app.workers)
                and table().row_count == n
                and table().cursor_row == 0
            ),
        )
    return out


async def bench_clients(n: int, directory: Path) -> Timings:
    client_checks.probe_client = lambda name, *a, **k: client_facts(name)
    state = planned_state(n, directory)
    app = BorgkeepApp(state.inventory_path, state=state, start_step=2)
    out: Timings = {}
    start, cpu = time.perf_counter(), time.process_time()
    async with app.run_test(size=SIZE) as pilot:
        table = lambda: app.screen.query_one("#clients-table", DataTable)  # noqa: E731
        await until(pilot, lambda: table().row_count == n)
        out["clients: first render"] = time.perf_counter() - start
        out["clients: first render, CPU"] = time.process_time() - cpu
        table().focus()
        await pilot.pause()
        await floor(out, "clients: unbound key (floor)", pilot)
        await timed(out, "clients: down", pilot, ("down",), lambda: table().cursor_row == 1)
        field = app.screen.query_one("#new-client", Input)
        field.value = "root@new.lan"
        field.focus()
        await pilot.pause()
        await timed(
            out,
            "clients: add",
            pilot,
            ("enter",),
            lambda: (
                table().row_count == n + 1
                and not any(w.group.startswith("check:") and not w.is_finished for w in app.workers)
            ),
        )
    return out


BENCHES: list[Callable[[int, Path], Awaitable[Timings]]] = [
    bench_review,
    bench_welcome,
    bench_clients,
]


def run(n: int, reps: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for _ in range(reps):
        for bench in BENCHES:
            with tempfile.TemporaryDirectory() as tmp:
                for key, value in asyncio.run(bench(n, Path(tmp))).items():
                    samples.setdefault(key, []).append(value)
    return samples


def isolate(directory: Path) -> None:
    """No developer config, keyring, ssh config or known_hosts (as tests/screens' conftest)."""
    os.environ["XDG_CONFIG_HOME"] = str(directory / "config")
    os.environ["XDG_DATA_HOME"] = str(directory / "data")
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    os.environ.pop("BORGKEEP_INVENTORY", None)
    (directory / "ssh_config").write_text("Host nas\n  HostName nas.lan\n  User root\n")
    os.environ["BORGKEEP_SSH_CONFIG"] = str(directory / "ssh_config")
    os.environ["BORGKEEP_KNOWN_HOSTS"] = str(directory / "known_hosts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,50,100")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    isolate(Path(tempfile.mkdtemp(prefix="borgkeep-bench-tui-")))
    results = {n: run(n, args.reps) for n in sizes}
    keys = list(results[sizes[0]])
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.reps}, ms")
    print("| measurement | " + " | ".join(f"N={n}" for n in sizes) + " | per client |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for key in keys:
        medians = [statistics.median(results[n][key]) for n in sizes]
        if key.endswith("changes"):
            cells = [f"{m:.0f}" for m in medians]
            print(f"| {key} | " + " | ".join(cells) + " | |")
            continue
        slope = (medians[-1] - medians[0]) / (sizes[-1] - sizes[0]) if len(sizes) > 1 else 0
        cells = [f"{m * 1000:.0f}" for m in medians]
        print(f"| {key} | " + " | ".join(cells) + f" | {slope * 1000:.2f} |")


if __name__ == "__main__":
    main()
