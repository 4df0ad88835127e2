"""The shell that runs on hosts, read from the `.sh` files shipped beside this module (`sh/`,
checked by shellcheck). A script is its files' text after one `set -- ARGS` line: every
value reaches the shell as a positional parameter, quoted once, here."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Sequence
from importlib.resources import files


@functools.cache
def shell_file(name: str) -> str:
    """One `.sh` file's text without its comment lines (they stay in the file for readers and
    shellcheck; a host needs none of them, and a batch's command line stays short)."""
    text = files("wizard.remote").joinpath("sh", name).read_text(encoding="utf-8")
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#")
    )


def shell_script(names: Sequence[str], args: Sequence[str] = ()) -> str:
    """The files `names`, in order (libraries first), run with `args` as "$1", "$2", ..."""
    return f"set -- {shlex.join(args)}\n" + "".join(shell_file(name) for name in names)
