"""How a remote script runs as a given account, starting from the SSH login.

`RunAs` only knows *how* to switch (nothing, `runuser` from a root login, `sudo -n` from a
sudo login); *which* account runs each step is decided from a host's facts in
`wizard.pipeline.identity`. A wrapped script is still one `sh -c` string with every value
shell-quoted, and its stdin (file contents, secrets) passes through the switch untouched.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

DIRECT, RUNUSER, SUDO = "direct", "runuser", "sudo"


@dataclass(frozen=True)
class RunAs:
    """Run scripts as `user` (whose home is `home`): `via` is DIRECT (the login itself),
    RUNUSER (a root login switching down) or SUDO (`sudo -n -u user`, never prompting)."""

    user: str
    home: str
    via: str = DIRECT

    def wrap(self, script: str) -> str:
        """`script` as the login must run it to get `user`: HOME is the user's own, the
        working directory `/` (the login's home may be closed to the user)."""
        if self.via == DIRECT:
            return script
        inner = f"HOME={shlex.quote(self.home)}; export HOME; cd /\n{script}"
        user = shlex.quote(self.user)
        if self.via == RUNUSER:
            return f"exec runuser -u {user} -- sh -c {shlex.quote(inner)}\n"
        if self.via == SUDO:
            return f"exec sudo -n -u {user} -- sh -c {shlex.quote(inner)}\n"
        raise ValueError(f"unknown way to run as {self.user}: {self.via!r}")

    def describe(self) -> str:
        """`borg (runuser)`: for messages and tests."""
        return self.user if self.via == DIRECT else f"{self.user} ({self.via})"
