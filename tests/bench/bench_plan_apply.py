"""Kept so that older notes still work: the benchmark is now `bench_fleet.py`.

.venv/bin/python tests/bench/bench_plan_apply.py [ARGS]  ==  tests/bench/bench_fleet.py [ARGS]
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    print("bench_plan_apply.py is now bench_fleet.py; running that", file=sys.stderr)
    sys.argv[0] = str(Path(__file__).with_name("bench_fleet.py"))
    runpy.run_path(sys.argv[0], run_name="__main__")
