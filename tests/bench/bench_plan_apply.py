"""Time `borgkeep plan`, `apply --yes` and a second `plan` against lab fleets of N clients.

Not a test (pytest does not collect it: no `test_` prefix) and never asserts timings; it
prints a table for tests/bench/README.md. Needs root, like the lab:

    sudo .venv/bin/python tests/bench/bench_plan_apply.py [--sizes 1,5,20]

`apply --yes` includes the CLI's own post-apply `verify`, as an operator would see it; the
last column times `verify` alone, so the difference is the apply itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.lab import start_lab

STEPS = [
    ("plan", ["plan"], 2),
    ("apply --yes", ["apply", "--yes"], 0),
    ("plan again", ["plan"], 0),
    ("verify", ["verify"], 0),
]


@dataclass
class Timing:
    clients: int
    lab_start: float
    steps: dict[str, float]
    exit_codes: dict[str, int]


def run_cli(inventory: Path, args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Seconds, exit code and output of one `borgkeep` run."""
    argv = [sys.executable, "-m", "screens.launcher", "--inventory", str(inventory), *args]
    started = time.perf_counter()
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800
    )
    return time.perf_counter() - started, result.returncode, result.stdout + result.stderr


def bench_fleet(clients: int) -> Timing:
    """One fresh lab with `clients` root clients (borgmatic 1.7), stopped afterwards."""
    started = time.perf_counter()
    lab = start_lab(clients=[(f"c{i}", "root", "1.7") for i in range(1, clients + 1)])
    lab_start = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory(prefix="borgkeep-bench-") as workdir:
            inventory = Path(workdir) / "inventory.yaml"
            inventory.write_text(lab.inventory_yaml())
            env = {
                **os.environ,
                **lab.env(),
                "XDG_DATA_HOME": f"{workdir}/xdg-data",
                "XDG_CONFIG_HOME": f"{workdir}/xdg-config",
                "BORGKEEP_SECRETS": "file",
            }
            steps, codes = {}, {}
            for label, args, expected in STEPS:
                seconds, code, output = run_cli(inventory, args, env)
                steps[label], codes[label] = seconds, code
                if code != expected:
                    print(
                        f"warning: {label} with {clients} client(s) exited {code} "
                        f"(expected {expected}):\n{output[-3000:]}",
                        file=sys.stderr,
                    )
            return Timing(clients, lab_start, steps, codes)
    finally:
        lab.stop()


def render_table(timings: list[Timing]) -> str:
    """A Markdown table: one row per fleet size, seconds per step (exit code if unexpected)."""
    header = ["clients", "lab start", *(label for label, _, _ in STEPS)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for timing in timings:
        cells = [str(timing.clients), f"{timing.lab_start:.1f} s"]
        for label, _, expected in STEPS:
            cell = f"{timing.steps[label]:.1f} s"
            if timing.exit_codes[label] != expected:
                cell += f" (exit {timing.exit_codes[label]})"
            cells.append(cell)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"--sizes wants positive integers like 1,5,20, not {text}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[1, 5, 20], help="e.g. 1,5,20")
    args = parser.parse_args(argv)
    timings = []
    for size in args.sizes:
        print(f"benchmarking {size} client(s)...", file=sys.stderr, flush=True)
        timings.append(bench_fleet(size))
    print(render_table(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
