"""Time to the first screen: the wizard against a minimal Textual app, and the light commands.

Not a test (no `test_` prefix) and never asserts; it prints medians of interleaved runs,
each a fresh `python` process measured from its start until the first screen has been
shown (headless, the same way for both apps), and the ratio issue 11 sets a target for
(the wizard's first screen at most 1.3x a minimal Textual app's):

    .venv/bin/python tests/bench/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FIRST_SCREEN = """
import sys
from pathlib import Path

async def until_first_screen(pilot):
    await pilot.pause()
    pilot.app.exit()

if sys.argv[1] == "minimal":
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Minimal(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

    Minimal().run(headless=True, auto_pilot=until_first_screen)
else:
    from screens.app import BorgkeepApp
    from screens.welcome import WelcomeScreen

    async def until_welcome(pilot):
        while not isinstance(pilot.app.screen, WelcomeScreen):
            await pilot.pause(0.002)
        await pilot.pause()
        pilot.app.exit()

    BorgkeepApp(Path(sys.argv[2])).run(headless=True, auto_pilot=until_welcome)
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="borgkeep-startup-") as workdir:
        env = {**os.environ, "XDG_CONFIG_HOME": workdir, "XDG_DATA_HOME": workdir}
        inventory = str(Path(workdir) / "inventory.yaml")  # absent: a first run
        commands = {
            "minimal Textual app": [python, "-c", FIRST_SCREEN, "minimal"],
            "borgkeep (first screen)": [python, "-c", FIRST_SCREEN, "borgkeep", inventory],
            "borgkeep --version": [python, "-m", "screens.launcher", "--version"],
            "python -c pass": [python, "-c", "pass"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    load = os.getloadavg()[0]
    print(f"{args.runs} interleaved runs, load average {load:.2f}")
    for name, value in medians.items():
        print(f"  {name:26} {value * 1000:7.0f} ms")
    ratio = medians["borgkeep (first screen)"] / medians["minimal Textual app"]
    print(f"  first screen / minimal app: {ratio:.2f}x (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
