"""`borgkeep`: the program's entry point. It sits above the engine and the wizard.

No command opens the wizard; `demo` starts the local lab and opens the wizard on it;
every other command is the engine's (`wizard.cli`). Textual and the lab are imported
only when they are needed, so `borgkeep --version` and `borgkeep validate` stay light.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from wizard import cli


def open_wizard(inventory_path: Path, accept_new_host_keys: bool = False) -> int:
    try:
        from screens.app import run_app
    except ImportError as exc:  # the TUI is optional for scripted use
        print(
            f"borgkeep: the wizard is not available ({exc}); `borgkeep --help` lists the commands",
            file=sys.stderr,
        )
        return cli.EXIT_ERROR
    return run_app(inventory_path, accept_new_host_keys=accept_new_host_keys)


def _wizard(args: argparse.Namespace) -> int:
    from wizard.session import CONNECT_TIMEOUT_ENV, default_connect_timeout

    if getattr(args, "connect_timeout", None):
        os.environ[CONNECT_TIMEOUT_ENV] = str(args.connect_timeout)
    default_connect_timeout()  # a bad BORGKEEP_CONNECT_TIMEOUT is one line, before the TUI
    return open_wizard(cli.inventory_path(args), args.accept_new_host_keys)


def _demo(args: argparse.Namespace) -> int:
    from wizard.lab.demo import run_demo

    return run_demo(
        keep=args.keep,
        cli_only=args.cli,
        open_wizard=open_wizard,
        resume=args.resume,
        stop=args.stop,
        full=args.full,
        protect=args.protect,
    )


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, {None: _wizard, "demo": _demo})


if __name__ == "__main__":
    sys.exit(main())
