"""Borgkeep against its floor and its Ansible peer, on lab fleets of N clients.

Not a test (pytest does not collect it: no `test_` prefix); timings are printed, never
asserted. Needs root, like the lab. From the project's root:

    .venv/bin/python tests/bench/bench_fleet.py [--sizes 1,5,20] [--reps 3,3,2]

Per fleet size and repetition it starts two fresh labs (server `nas` + N root clients on
borgmatic 1.7) and, interleaved, times:

- `borgkeep apply --yes --no-verify` from scratch on lab B, `ansible-playbook site.yml`
  from scratch on lab A (their order alternates between repetitions);
- then, on the converged labs: the paramiko floor (N+1 connections, 8 at a time, each
  running `true`, against lab B; once as the issue defines it, once with TCP_NODELAY like
  Borgkeep's own transport), `borgkeep plan` (exit 0, nothing to do), `ansible-playbook
  --check --diff` (changed=0) on lab A, and `borgkeep verify` on lab B;
- `borgkeep status --json` on lab B: once untimed (the borg user's Borg caches are made),
  then with the guard's status records removed (every repository read by Borg, as after a
  change: "status, changed") and again (nothing changed: "status, unchanged"); the cost
  per client of each is printed;
- the apply's CPU per client: the CLI's, and each lab host's from a cgroup around its sshd
  (`host_cpu.py`), printed as a table of its own.

In the last repetition it also counts, untimed, what a converged `plan` and `verify` (and the Ansible
check) starts on each host, and what an apply from scratch starts on one more fresh lab:
`strace -f -e trace=execve` attached to every lab host's sshd (see README.md). It prints the medians, the ratios, the load average and the counts as
Markdown tables; --json PATH keeps every sample.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wizard.lab import Lab, start_lab

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent.parent
sys.path.insert(0, str(BENCH_DIR))

from ansible_peer.gen_ansible import write_ansible_inventory  # noqa: E402
from host_cpu import Reading, host_cpu  # noqa: E402

PEER_DIR = BENCH_DIR / "ansible_peer"
ANSIBLE_VENV = Path("/tmp/borgkeep-bench-ansible-venv")
ANSIBLE_SPEC = "ansible-core<2.20"
TIMEOUT = 1800

FLOOR = "paramiko floor"
FLOOR_NODELAY = "floor, TCP_NODELAY"
PLAN = "borgkeep plan"
APPLY = "borgkeep apply"
VERIFY = "borgkeep verify"
A_CHECK = "ansible --check"
A_APPLY = "ansible apply"
STATUS_CHANGED = "status, changed"
STATUS_UNCHANGED = "status, unchanged"
STEPS = [FLOOR, FLOOR_NODELAY, PLAN, APPLY, VERIFY, STATUS_CHANGED, STATUS_UNCHANGED]
STEPS += [A_CHECK, A_APPLY]
FORGET_STATUS = 'rm -f "$(getent passwd borg | cut -d: -f6)"/.config/borgkeep/*.status.json'

EXECVE_RE = re.compile(r'^execve\("((?:[^"\\]|\\.)*)",.*\) = 0$')


@dataclass
class Sample:
    size: int
    rep: int
    step: str
    seconds: float
    ok: bool
    load1: float
    note: str = ""


@dataclass
class Counts:
    """What one host ran during a traced command (from its sshd's strace)."""

    connections: int = 0  # sshd's re-exec per accepted connection
    execs: int = 0  # every other successful execve (shells, ssh-keygen, borg, python...)
    pythons: int = 0  # execs that start a Python interpreter (directly or by #! line)
    programs: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------- running things


def load1() -> float:
    return os.getloadavg()[0]


def timed(argv: list[str], env: dict[str, str], cwd: Path = PROJECT) -> tuple[float, int, str]:
    """Seconds, exit code and output of one command."""
    started = time.perf_counter()
    result = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
    )
    return time.perf_counter() - started, result.returncode, result.stdout + result.stderr


@dataclass
class Fleet:
    """One running lab with what each tool needs to talk to it."""

    lab: Lab
    workdir: Path
    inventory: Path
    env: dict[str, str]
    hosts_json: Path
    ansible_hosts: Path | None = None

    def borgkeep(self, *args: str) -> tuple[float, int, str]:
        argv = [sys.executable, "-m", "screens.launcher", "--inventory", str(self.inventory)]
        return timed([*argv, *args], self.env)

    def floor(self, *flags: str) -> tuple[float, int, str]:
        script = str(BENCH_DIR / "floor_paramiko.py")
        return timed([sys.executable, script, *flags, str(self.hosts_json)], self.env)

    def ansible(self, check: bool) -> tuple[float, int, str]:
        assert self.ansible_hosts is not None
        control = Path(tempfile.mkdtemp(prefix="cp-", dir=self.workdir))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
            "ANSIBLE_CONFIG": str(PEER_DIR / "ansible.cfg"),
            "ANSIBLE_HOME": str(self.workdir / "ansible-home"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
            "ANSIBLE_NOCOLOR": "1",
        }
        argv = [str(ANSIBLE_VENV / "bin" / "ansible-playbook"), "-i", str(self.ansible_hosts)]
        argv.append(str(PEER_DIR / "site.yml"))
        if check:
            argv += ["--check", "--diff"]
        return timed(argv, env, cwd=PEER_DIR)


@contextmanager
def fleet(size: int, with_ansible: bool) -> Iterator[Fleet]:
    """A fresh lab of `size` root clients (borgmatic 1.7), stopped on the way out."""
    lab = start_lab(clients=[(f"c{i}", "root", "1.7") for i in range(1, size + 1)])
    workdir = Path(tempfile.mkdtemp(prefix="borgkeep-bench-"))
    try:
        inventory = workdir / "inventory.yaml"
        inventory.write_text(lab.inventory_yaml())
        env = {
            **os.environ,
            **lab.env(),
            "XDG_DATA_HOME": f"{workdir}/xdg-data",
            "XDG_CONFIG_HOME": f"{workdir}/xdg-config",
            "XDG_CACHE_HOME": f"{workdir}/xdg-cache",  # from scratch: no versions known
            "BORGKEEP_SECRETS": "file",
        }
        hosts_json = workdir / "floor.json"
        hosts_json.write_text(
            json.dumps(
                {
                    "known_hosts": str(lab.known_hosts),
                    "key": str(lab.operator_key),
                    "hosts": [{"port": h.port, "user": h.login_user} for h in lab.hosts.values()],
                }
            )
        )
        run = Fleet(lab, workdir, inventory, env, hosts_json)
        if with_ansible:
            run.ansible_hosts = write_ansible_inventory(lab, inventory, workdir / "ansible")
        yield run
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def ansible_recap(output: str) -> tuple[int, int]:
    """(changed, failed + unreachable) summed over PLAY RECAP."""
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))
    failed = sum(int(n) for n in re.findall(r"\b(?:failed|unreachable)=(\d+)", output))
    return changed, failed


# -------------------------------------------------------------------- counting execs


def is_python(path: str) -> bool:
    """A Python interpreter, or a script whose #! line names one (not via env: the
    interpreter env starts is an execve of its own)."""
    if Path(path).name.startswith("python"):
        return True
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first and b"/env" not in first.split()[0]


def parse_trace(directory: Path) -> Counts:
    counts = Counts()
    for trace in directory.iterdir():
        for line in trace.read_text(errors="replace").splitlines():
            match = EXECVE_RE.match(line)
            if not match:
                continue
            path = match.group(1)
            if Path(path).name == "sshd":
                counts.connections += 1
                continue
            counts.execs += 1
            counts.pythons += is_python(path)
            name = Path(path).name
            counts.programs[name] = counts.programs.get(name, 0) + 1
    return counts


def traced(lab: Lab, workdir: Path, action: Callable[[], object]) -> dict[str, Counts]:
    """Run `action` with `strace -f -e trace=execve` attached to every lab host's sshd;
    what each host executed meanwhile, by host name."""
    tracers: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for host in lab.hosts.values():
            comm = Path(f"/proc/{host.pid}/comm").read_text().strip()
            if comm != "sshd":
                raise RuntimeError(f"lab host {host.name}: pid {host.pid} is {comm}, not sshd")
            out = Path(tempfile.mkdtemp(prefix=f"strace-{host.name}-", dir=workdir))
            argv = ["strace", "-ff", "-qq", "-e", "trace=execve", "-o", str(out / "t")]
            process = subprocess.Popen(
                [*argv, "-p", str(host.pid)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            tracers[host.name] = (process, out)
        deadline = time.monotonic() + 15
        for host in lab.hosts.values():
            while "TracerPid:\t0\n" in Path(f"/proc/{host.pid}/status").read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"strace did not attach to {host.name}'s sshd")
                time.sleep(0.05)
        action()
    finally:
        for process, _ in tracers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process, _ in tracers.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {name: parse_trace(out) for name, (_, out) in tracers.items()}


def ensure_tools(need_ansible: bool) -> None:
    if shutil.which("strace") is None:
        print("installing strace (apt-get) for the exec counts...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "strace"], check=True)
    if need_ansible and not (ANSIBLE_VENV / "bin" / "ansible-playbook").exists():
        print(f"creating {ANSIBLE_VENV} ({ANSIBLE_SPEC})...", file=sys.stderr)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(ANSIBLE_VENV)], check=True)
        pip = [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", ANSIBLE_SPEC]
        subprocess.run(pip, check=True)


# -------------------------------------------------------------------------- the bench


class ApplyCPU:
    """`borgkeep apply --yes --no-verify` with the CPU it costs: the CLI's (its process)
    and each lab host's (`host_cpu`), read before and after."""

    def __init__(self, fleet: Fleet, hosts: Reading) -> None:
        self.fleet, self.hosts = fleet, hosts
        self.cli = 0.0
        self.before: dict[str, float] | None = None

    def run(self) -> tuple[float, int, str]:
        self.before = self.hosts()
        started = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = self.fleet.borgkeep("apply", "--yes", "--no-verify")
        ended = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cli = (ended.ru_utime + ended.ru_stime) - (started.ru_utime + started.ru_stime)
        return result

    def spent(self) -> list[dict[str, float]]:
        """CPU seconds of the CLI, the server and all clients together (none without
        cgroups)."""
        after = self.hosts()
        if self.before is None or after is None:
            return []
        used = {name: after[name] - self.before[name] for name in after}
        clients = sum(seconds for name, seconds in used.items() if name != "nas")
        return [{"cli": self.cli, "server": used.get("nas", 0.0), "clients": clients}]


class Bench:
    def __init__(self, ansible: bool, count: bool) -> None:
        self.ansible = ansible
        self.count = count
        self.samples: list[Sample] = []
        self.counts: dict[int, dict[str, dict[str, Counts]]] = {}
        self.cpu: dict[int, list[dict[str, float]]] = {}  # an apply's CPU-s by side

    def record(
        self, size: int, rep: int, step: str, run: Callable[[], tuple[float, int, str]]
    ) -> None:
        load = load1()
        seconds, code, output = run()
        ok, note = code == 0, "" if code == 0 else f"exit {code}"
        if step in (A_CHECK, A_APPLY):
            changed, failed = ansible_recap(output)
            note = f"changed={changed}" + (f", failed={failed}" if failed else "")
            ok = ok and not failed and (step != A_CHECK or changed == 0)
        if step == PLAN and code == 2:
            note = "exit 2: plan found changes"
        if step in (STATUS_CHANGED, STATUS_UNCHANGED):
            ok, note = status_ok(output, size)
        self.samples.append(Sample(size, rep, step, seconds, ok, load, note))
        flag = "" if ok else f"   <-- {note}"
        print(f"  N={size} rep {rep + 1}: {step:16s} {seconds:7.2f} s{flag}", file=sys.stderr)
        if not ok:
            print(output[-4000:], file=sys.stderr)

    def run_size(self, size: int, reps: int) -> None:
        for rep in range(reps):
            with fleet(size, False) as bk, fleet(size, self.ansible) as an:
                with host_cpu(bk.lab) as hosts:
                    apply = ApplyCPU(bk, hosts)
                    applies = [(APPLY, apply.run)]
                    if self.ansible:
                        applies.append((A_APPLY, lambda: an.ansible(check=False)))
                    for step, run in applies if rep % 2 == 0 else applies[::-1]:
                        self.record(size, rep, step, run)
                    time.sleep(1)  # the last `borg serve` may outlive its session a moment
                    self.cpu.setdefault(size, []).extend(apply.spent())
                self.record(size, rep, FLOOR, bk.floor)
                self.record(size, rep, FLOOR_NODELAY, lambda: bk.floor("--nodelay"))
                self.record(size, rep, PLAN, lambda: bk.borgkeep("plan"))
                if self.ansible:
                    self.record(size, rep, A_CHECK, lambda: an.ansible(check=True))
                self.record(size, rep, VERIFY, lambda: bk.borgkeep("verify"))
                bk.borgkeep("status", "--json")  # untimed: the borg user's caches
                bk.lab.run("nas", FORGET_STATUS, check=True)
                self.record(size, rep, STATUS_CHANGED, lambda: bk.borgkeep("status", "--json"))
                self.record(size, rep, STATUS_UNCHANGED, lambda: bk.borgkeep("status", "--json"))
                if self.count and rep == reps - 1:
                    print(f"  N={size}: counting execs (strace)...", file=sys.stderr)
                    counted = {PLAN: traced(bk.lab, bk.workdir, lambda: bk.borgkeep("plan"))}
                    counted[VERIFY] = traced(bk.lab, bk.workdir, lambda: bk.borgkeep("verify"))
                    if self.ansible:
                        check = lambda: an.ansible(check=True)  # noqa: E731
                        counted[A_CHECK] = traced(an.lab, an.workdir, check)
                    self.counts[size] = counted
            if self.count and rep == reps - 1:
                self.counts[size][APPLY] = traced_apply(size)


def traced_apply(size: int) -> dict[str, Counts]:
    """What an apply from scratch starts on each host, on a fresh lab of its own (traced
    runs are slower, so this one is not timed)."""
    print(f"  N={size}: counting an apply's execs (strace, fresh lab)...", file=sys.stderr)
    with fleet(size, False) as fresh:
        result: list[tuple[float, int, str]] = []
        apply = lambda: result.append(fresh.borgkeep("apply", "--yes", "--no-verify"))  # noqa: E731
        counts = traced(fresh.lab, fresh.workdir, apply)
    seconds, code, output = result[0]
    if code != 0:
        print(f"  the traced apply exited {code}:\n{output[-4000:]}", file=sys.stderr)
    return counts


def status_ok(output: str, size: int) -> tuple[bool, str]:
    """`status --json` exits 2 while clients were never backed up; it is ok when it names
    every client and none is `error`."""
    try:
        data, _ = json.JSONDecoder().raw_decode(output[output.index("{") :])
        clients = data["clients"]
    except (ValueError, KeyError):
        return False, "no status JSON"
    errors = [c["name"] for c in clients if c["state"] == "error"]
    if len(clients) != size or errors:
        return False, f"{len(clients)} client(s), error: {', '.join(errors)}"
    return True, ""


# ------------------------------------------------------------------------------ output


def median(samples: list[Sample], size: int, step: str) -> float | None:
    values = [s.seconds for s in samples if s.size == size and s.step == step]
    return statistics.median(values) if values else None


def fmt(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.2f} s"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator == 0:
        return "–"
    return f"{numerator / denominator:.1f}×"


def per_client(seconds: float | None, size: int) -> str:
    return "–" if seconds is None else f"{seconds / size:.3f} s"


def render_times(samples: list[Sample], sizes: list[int]) -> str:
    header = ["N", "reps", "load (1 min)", *STEPS]
    rows = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for size in sizes:
        mine = [s for s in samples if s.size == size]
        loads = [s.load1 for s in mine]
        reps = len({s.rep for s in mine})
        load = f"{statistics.median(loads):.1f} ({min(loads):.1f}–{max(loads):.1f})"
        cells = [str(size), str(reps), load]
        for step in STEPS:
            cell = fmt(median(samples, size, step))
            bad = [s.note for s in mine if s.step == step and not s.ok]
            if bad:
                cell += f" ({len(bad)} not ok: {bad[0]})"
            cells.append(cell)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render_ratios(samples: list[Sample], sizes: list[int]) -> str:
    header = [
        "N",
        "plan / floor (target ≤ 2×)",
        "plan / TCP_NODELAY floor",
        "ansible check / plan (target ≥ 50×)",
        "ansible apply / apply (target ≥ 10×)",
        "verify (target ≤ 20 s)",
        "apply / floor",
        "verify / floor",
        "status changed / client",
        "status unchanged / client",
        "apply / client",
    ]
    rows = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for size in sizes:

        def m(step: str, size: int = size) -> float | None:
            return median(samples, size, step)

        cells = [
            str(size),
            ratio(m(PLAN), m(FLOOR)),
            ratio(m(PLAN), m(FLOOR_NODELAY)),
            ratio(m(A_CHECK), m(PLAN)),
            ratio(m(A_APPLY), m(APPLY)),
            fmt(m(VERIFY)),
            ratio(m(APPLY), m(FLOOR)),
            ratio(m(VERIFY), m(FLOOR)),
            per_client(m(STATUS_CHANGED), size),
            per_client(m(STATUS_UNCHANGED), size),
            per_client(m(APPLY), size),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render_counts(counts: dict[int, dict[str, dict[str, Counts]]]) -> str:
    header = ["N", "command", "host", "SSH connections", "execs", "Python start-ups", "programs"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size, by_command in sorted(counts.items()):
        for command, by_host in by_command.items():
            server = by_host.get("nas", Counts())
            clients = [c for name, c in by_host.items() if name != "nas"]
            for label, group in (("server", [server]), ("each client (mean)", clients)):
                if not group:
                    continue
                programs: dict[str, int] = {}
                for c in group:
                    for name, n in c.programs.items():
                        programs[name] = programs.get(name, 0) + n
                listed = ", ".join(
                    f"{name} {n / len(group):g}"
                    for name, n in sorted(programs.items(), key=lambda kv: (-kv[1], kv[0]))
                )
                cells = [
                    str(size),
                    command,
                    label,
                    f"{statistics.mean(c.connections for c in group):g}",
                    f"{statistics.mean(c.execs for c in group):g}",
                    f"{statistics.mean(c.pythons for c in group):g}",
                    listed,
                ]
                rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render_cpu(cpu: dict[int, list[dict[str, float]]]) -> str:
    """An apply's CPU seconds per client (medians over the repetitions), by side."""
    header = ["N", "CLI", "server", "clients", "total", "total / 2 cores"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for size, samples in sorted(cpu.items()):
        sides = {side: statistics.median(s[side] for s in samples) / size for side in samples[0]}
        total = sum(sides.values())
        cells = [f"{sides[side]:.3f} s" for side in ("cli", "server", "clients")]
        rows.append(f"| {size} | " + " | ".join(cells) + f" | {total:.3f} s | {total / 2:.3f} s |")
    return "\n".join(rows)


def parse_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"want positive integers like 1,5,20, not {text}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_list, default=[1, 5, 20], help="e.g. 1,5,20")
    parser.add_argument(
        "--reps", type=parse_list, default=[3], help="repetitions per size (e.g. 3,3,2)"
    )
    parser.add_argument("--no-ansible", action="store_true", help="skip the Ansible peer")
    parser.add_argument("--no-count", action="store_true", help="skip the strace exec counts")
    parser.add_argument("--json", type=Path, help="write every sample to this file")
    args = parser.parse_args(argv)
    reps = args.reps + [args.reps[-1]] * (len(args.sizes) - len(args.reps))
    ensure_tools(need_ansible=not args.no_ansible)
    bench = Bench(ansible=not args.no_ansible, count=not args.no_count)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_before = os.getloadavg()
    for size, rep_count in zip(args.sizes, reps, strict=False):
        print(f"benchmarking {size} client(s), {rep_count} repetition(s)...", file=sys.stderr)
        bench.run_size(size, rep_count)
    load_after = os.getloadavg()
    print(
        f"{started}, {os.cpu_count()} CPUs; load average before {load_before[0]:.2f} "
        f"{load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} "
        f"{load_after[1]:.2f} {load_after[2]:.2f}\n"
    )
    print("Medians:\n")
    print(render_times(bench.samples, args.sizes))
    print("\nRatios (of medians):\n")
    print(render_ratios(bench.samples, args.sizes))
    if bench.cpu:
        print("\nCPU of an apply from scratch, per client (cgroup accounting of each lab host):\n")
        print(render_cpu(bench.cpu))
    if bench.counts:
        print(
            "\nWhat a run starts per host (strace on each lab sshd; apply from scratch on a "
            "fresh lab, the others converged):\n"
        )
        print(render_counts(bench.counts))
    if args.json:
        data = {
            "samples": [asdict(s) for s in bench.samples],
            "apply_cpu": bench.cpu,
            "counts": {
                size: {cmd: {h: asdict(c) for h, c in hosts.items()} for cmd, hosts in cmds.items()}
                for size, cmds in bench.counts.items()
            },
        }
        args.json.write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
