"""CPU time a lab's hosts spend, from cgroup accounting: each host's sshd listener is moved
into a cgroup of its own, so every process it starts (a connection's shells, a client's
`borg init`, the server's `borg serve`, even one that outlives its session) is counted,
whatever else runs on the machine. Needs root and a cgroup v1 `cpuacct` hierarchy or
cgroup v2; without either the readings are None."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from wizard.lab import Lab

V1 = Path("/sys/fs/cgroup/cpuacct")
V2 = Path("/sys/fs/cgroup")

Reading = Callable[[], dict[str, float] | None]


def _hierarchy() -> tuple[Path, Callable[[Path], float]] | None:
    """Where to make the groups and how to read one's CPU seconds."""
    if (V1 / "cpuacct.usage").is_file():
        return V1, lambda group: int((group / "cpuacct.usage").read_text()) / 1e9
    if (V2 / "cgroup.controllers").is_file():

        def usage(group: Path) -> float:
            for line in (group / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
            raise OSError(f"no usage_usec in {group}/cpu.stat")

        return V2, usage
    return None


@contextmanager
def host_cpu(lab: Lab) -> Iterator[Reading]:
    """A reading of every lab host's CPU seconds so far (None if cgroups cannot be used);
    on the way out the hosts go back to the root group and the groups are removed."""
    found = _hierarchy()
    groups: dict[str, Path] = {}
    try:
        if found is not None:
            root, _ = found
            for name, host in lab.hosts.items():
                group = root / f"borgkeep-bench-{os.getpid()}-{name}"
                group.mkdir(exist_ok=True)
                groups[name] = group
                (group / "cgroup.procs").write_text(str(host.pid))
    except OSError:
        found = None
    usage = found[1] if found else None

    def read() -> dict[str, float] | None:
        if usage is None:
            return None
        return {name: usage(group) for name, group in groups.items()}

    try:
        yield read
    finally:
        for group in groups.values():
            _empty(group, found[0] if found else V1)


def _empty(group: Path, root: Path) -> None:
    """Move what is left in `group` back to `root` and remove it."""
    with suppress(OSError):
        for pid in (group / "cgroup.procs").read_text().split():
            with suppress(OSError):  # gone meanwhile
                (root / "cgroup.procs").write_text(pid)
        group.rmdir()
