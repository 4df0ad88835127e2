"""Which borg and borgmatic runs a command line makes, and what each one does.

A cron line or an `ExecStart=` is rarely just `borgmatic`: it is `sh -c "..."`, behind
`flock`, `nice`, `ionice`, `chronic`, `systemd-inhibit`, `runuser`, an absolute path, a
`&&` chain, with redirections. The command is split like a POSIX shell splits it (quotes,
escapes, operators, `2>&1`), each simple command is unwrapped, and what is left is read
the way borgmatic (that version's actions, aliases and defaults) or borg reads its argv.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from wizard.takeover.versions import CONFIG_FLAG_APPEND_SINCE, Version, default_actions

ASSIGNMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
SECRET_NAME_RE = re.compile(r"PASS|SECRET|TOKEN", re.IGNORECASE)
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "busybox"})
SHELL_KEYWORDS = frozenset({"if", "then", "else", "elif", "while", "until", "do", "!", "{", "}"})
"""Words a script line may start with before its command (`then borgmatic ...; fi`)."""
OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")


def _words(text: str) -> list[str]:
    return text.split()


@dataclass(frozen=True)
class _Wrapper:
    with_value: frozenset[str] = frozenset()
    positional: int = 0
    command_option: frozenset[str] = frozenset()
    user_option: frozenset[str] = frozenset()


def _wrapper(values: str = "", positional: int = 0, command: str = "", user: str = "") -> _Wrapper:
    return _Wrapper(
        frozenset(values.split()), positional, frozenset(command.split()), frozenset(user.split())
    )


WRAPPERS: Mapping[str, _Wrapper] = {
    "nice": _wrapper("-n --adjustment"),
    "ionice": _wrapper("-c --class -n --classdata -p --pid -P --pgid -u --uid"),
    "chronic": _wrapper(),
    "cronic": _wrapper(),
    "nohup": _wrapper(),
    "setsid": _wrapper(),
    "exec": _wrapper(),
    "command": _wrapper(),
    "time": _wrapper("-f --format -o --output"),
    "stdbuf": _wrapper("-i -o -e --input --output --error"),
    "timeout": _wrapper("-s --signal -k --kill-after", positional=1),
    "flock": _wrapper("-w --timeout --wait -E --conflict-exit-code", 1, "-c --command"),
    "systemd-inhibit": _wrapper("--what --who --why --mode"),
    "systemd-cat": _wrapper("-t --identifier -p --priority --stderr-priority"),
    "env": _wrapper("-u --unset -C --chdir -S --split-string"),
    "sudo": _wrapper("-g -C -D -h -p -r -t -U -R --group --host --prompt", user="-u --user"),
    "doas": _wrapper("-C", user="-u"),
    "runuser": _wrapper("-g -G -s -w --group --supp-group --shell", 0, "-c --command", "-u --user"),
    "su": _wrapper("-g -G -s -w --group --supp-group --shell", 0, "-c --command"),
}

BORGMATIC_ACTIONS: Mapping[str, str] = {
    **{name: name for name in (
        "repo-create", "prune", "compact", "create", "check", "config", "delete", "extract",
        "export-tar", "mount", "umount", "restore", "repo-delete", "repo-list", "list",
        "repo-info", "info", "transfer", "break-lock", "key", "recreate", "diff", "browse",
        "borg", "bootstrap", "generate", "validate",
    )},
    "rcreate": "repo-create", "init": "repo-create", "-I": "repo-create", "-p": "prune",
    "-C": "create", "-k": "check", "-x": "extract", "-m": "mount", "-u": "umount",
    "-r": "restore", "rdelete": "repo-delete", "rlist": "repo-list", "-l": "list",
    "rinfo": "repo-info", "-i": "info",
}  # fmt: skip
"""Every action name and alias of borgmatic 1.7 to 2.x, to its 2.x name."""
BORGMATIC_VALUE_OPTIONS = frozenset(
    _words(
        """-c --config -v --verbosity --syslog-verbosity --log-file-verbosity
    --monitoring-verbosity --log-file --log-file-format --override --excludes --repository
    --archive -a --match-archives --glob-archives --first --last --oldest --newest --older
    --newer --only --max-duration --path --destination --strip-components --threshold
    --sort-by --format --database --schema --hostname --port --username --password
    --original-hostname --original-port --mount-point --source-repository --encryption
    --other-repo --storage-quota --find --prefix --archive-name-format"""
    )
)
BORG_VALUE_OPTIONS = frozenset(
    _words(
        """--remote-path --rsh --lock-wait --umask --upload-ratelimit --upload-buffer
    --debug-topic --debug-profile -r --repo -a --glob-archives --match-archives -P --prefix
    --keep-within --checkpoint-interval -C --compression -e --exclude --exclude-from
    --pattern --patterns-from --comment --timestamp --chunker-params --files-cache
    --exclude-if-present --first --last --sort-by --threshold --format --storage-quota
    --encryption --path"""
    )
)
REMOVING_ACTIONS = frozenset({"prune", "delete", "repo-delete", "recreate"})
BORG_REMOVING = frozenset({"prune", "delete", "recreate"})


@dataclass(frozen=True)
class Environment:
    """Variables a run gets from its job or its command line; secret-looking values apart."""

    values: Mapping[str, str] = field(default_factory=dict)
    secret_values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def with_assignment(self, name: str, value: str) -> Environment:
        if SECRET_NAME_RE.search(name):
            return Environment(self.values, {**self.secret_values, name: value})
        return Environment({**self.values, name: value}, self.secret_values)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({*self.values, *self.secret_values}))


@dataclass(frozen=True)
class Invocation:
    """One run of borgmatic or borg inside a command line."""

    program: str
    """"borgmatic" or "borg"."""
    path: str
    argv: tuple[str, ...] = field(repr=False)
    actions: tuple[str, ...]
    bare: bool
    """No action named, so the version's default actions run."""
    config_paths: tuple[str, ...]
    """`-c` paths as written; empty: borgmatic's default paths."""
    repository: str | None
    dry_run: bool
    run_as: str | None
    """The account a wrapper (`sudo -u`, `runuser -u`, `su`) switches to."""
    environment: Environment

    @property
    def removes_archives(self) -> bool:
        """Whether this run can delete archives (prune, delete, a `borgmatic borg prune`)."""
        return not self.dry_run and bool(REMOVING_ACTIONS & set(self.actions))

    @property
    def compacts(self) -> bool:
        """Whether this run frees deleted data for good (compact)."""
        return not self.dry_run and "compact" in self.actions


def split_command_line(text: str) -> Iterator[list[str]]:
    """The simple commands of a POSIX shell line, each as words, redirections removed."""
    words: list[str] = []
    word: list[str] | None = None
    quoted = False
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in " \t\n":
            if word is not None:
                words.append("".join(word))
            word, quoted = None, False
            index += 1
        elif char == "#" and word is None:
            break
        elif char == "\\":
            word = (word or []) + [text[index + 1 : index + 2]]
            index += 2
        elif char == "'":
            end = text.find("'", index + 1)
            end = length if end < 0 else end
            word, quoted = (word or []) + [text[index + 1 : end]], True
            index = end + 1
        elif char == '"':
            index, inner = _double_quoted(text, index + 1)
            word, quoted = (word or []) + [inner], True
        elif char in "<>":
            if word is not None and not quoted and "".join(word).isdigit():
                word = None
            elif word is not None:
                words.append("".join(word))
                word = None
            index = _skip_redirection(text, index)
        elif text.startswith(OPERATORS, index):
            if word is not None:
                words.append("".join(word))
            word, quoted = None, False
            if words:
                yield words
            words = []
            index += next(len(op) for op in OPERATORS if text.startswith(op, index))
        else:
            word = (word or []) + [char]
            index += 1
    if word is not None:
        words.append("".join(word))
    if words:
        yield words


def _double_quoted(text: str, index: int) -> tuple[int, str]:
    parts = []
    while index < len(text) and text[index] != '"':
        if text[index] == "\\" and text[index + 1 : index + 2] in ('"', "\\", "$", "`"):
            parts.append(text[index + 1])
            index += 2
        else:
            parts.append(text[index])
            index += 1
    return index + 1, "".join(parts)


def _skip_redirection(text: str, index: int) -> int:
    """Past `>`, `>>`, `<`, `>&2`, `2>/dev/null` and their target word (quotes included)."""
    while index < len(text) and text[index] in "<>&|":
        index += 1
    if (
        index < len(text)
        and (text[index].isdigit() or text[index] == "-")
        and text[index - 1] == "&"
    ):
        return index + 1
    while index < len(text) and text[index] in " \t":
        index += 1
    while index < len(text) and text[index] not in " \t\n;&|()<>":
        if text[index] == "'":
            end = text.find("'", index + 1)
            index = len(text) if end < 0 else end + 1
        elif text[index] == '"':
            index, _ = _double_quoted(text, index + 1)
        else:
            index += 2 if text[index] == "\\" else 1
    return index


def _unwrap(words: list[str], run_as: str | None, env: Environment) -> Iterator[tuple]:
    """The program a simple command finally runs, through wrappers and `sh -c`."""
    while words and (ASSIGNMENT_RE.match(words[0]) or words[0] in SHELL_KEYWORDS):
        if words[0] not in SHELL_KEYWORDS:
            env = env.with_assignment(*words[0].split("=", 1))
        words = words[1:]
    if not words:
        return
    program = posixpath.basename(words[0])
    if program in SHELLS:
        script = _shell_script(words[1:])
        if script is not None:
            for inner in split_command_line(script):
                yield from _unwrap(inner, run_as, env)
        return
    wrapper = WRAPPERS.get(program)
    if wrapper is None:
        yield words, run_as, env
        return
    rest = words[1:]
    index, positional = 0, 0
    while index < len(rest):
        word = rest[index]
        option, has_value, value = word.partition("=")
        if word == "--":
            index += 1
            break
        if word in wrapper.command_option and index + 1 < len(rest):
            for inner in split_command_line(rest[index + 1]):
                yield from _unwrap(inner, run_as, env)
            return
        if option in wrapper.user_option:
            run_as = (
                value
                if has_value
                else rest[index + 1 : index + 2][0]
                if index + 1 < len(rest)
                else run_as
            )
            index += 1 if has_value else 2
        elif option in wrapper.with_value:
            index += 1 if has_value else 2
        elif program == "env" and ASSIGNMENT_RE.match(word):
            env = env.with_assignment(*word.split("=", 1))
            index += 1
        elif word.startswith("-") and len(word) > 1:
            index += 1
        elif positional < wrapper.positional:
            positional += 1
            index += 1
        elif program == "su":
            run_as = word
            index += 1
        else:
            break
    yield from _unwrap(rest[index:], run_as, env)


def _shell_script(arguments: list[str]) -> str | None:
    for index, word in enumerate(arguments):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return arguments[index + 1] if index + 1 < len(arguments) else None
        if not word.startswith("-"):
            return None
    return None


def find_invocations(
    command: str, version: Version | None, environment: Environment | None = None
) -> tuple[Invocation, ...]:
    """Every borgmatic and borg run in `command`, in order (`version`: the client's
    borgmatic, which decides the default actions and how `-c` reads)."""
    found = []
    for words in split_command_line(command):
        for program_words, run_as, env in _unwrap(words, None, environment or Environment()):
            name = posixpath.basename(program_words[0])
            if name == "borgmatic":
                found.append(_borgmatic(program_words, version, run_as, env))
            elif name == "borg":
                found.append(_borg(program_words, run_as, env))
    return tuple(found)


def _borgmatic(words: list[str], version: Version | None, run_as, env) -> Invocation:
    actions: list[str] = []
    configs: list[str] = []
    repository = None
    dry_run = asked_for_help = False
    greedy_config = version is not None and version < CONFIG_FLAG_APPEND_SINCE
    index = 1
    while index < len(words):
        word = words[index]
        option, has_value, value = word.partition("=")
        index += 1
        if word in BORGMATIC_ACTIONS:
            actions.append(BORGMATIC_ACTIONS[word])
            if BORGMATIC_ACTIONS[word] == "borg":
                actions.extend(_borg_subcommand(words[index:]))
                break
        elif option in ("-c", "--config"):
            if has_value:
                configs.append(value)
                continue
            while index < len(words):
                configs.append(words[index])
                index += 1
                nxt = words[index] if index < len(words) else "-"
                if not greedy_config or nxt.startswith("-") or nxt in BORGMATIC_ACTIONS:
                    break
        elif option in BORGMATIC_VALUE_OPTIONS:
            if option == "--repository":
                repository = value if has_value else words[index : index + 1][0]
            index += 0 if has_value else 1
        elif word in ("-n", "--dry-run"):
            dry_run = True
        elif word in ("-h", "--help", "--version", "--bash-completion", "--fish-completion"):
            asked_for_help = True
    bare = not actions and not asked_for_help
    if bare:
        actions = list(default_actions(version or CONFIG_FLAG_APPEND_SINCE))
    return Invocation(
        "borgmatic", words[0], tuple(words), tuple(actions), bare, tuple(configs), repository,
        dry_run, run_as, env,
    )  # fmt: skip


def _borg_subcommand(words: list[str]) -> list[str]:
    """What `borg ...` (or `borgmatic borg ...`) runs: its subcommand, and the repository."""
    index = 0
    while index < len(words):
        option, has_value, _ = words[index].partition("=")
        if option in BORG_VALUE_OPTIONS and not has_value:
            index += 2
        elif words[index].startswith("-"):
            index += 1
        else:
            return [words[index]]
    return []


def _borg(words: list[str], run_as, env: Environment) -> Invocation:
    subcommand = _borg_subcommand(words[1:])
    repository = None
    if subcommand:
        after = words[words.index(subcommand[0], 1) + 1 :]
        positional = _positionals(after)
        if subcommand[0] in ("key", "benchmark", "debug") and positional:
            subcommand = [f"{subcommand[0]} {positional[0]}"]
            positional = positional[1:]
        if positional:
            repository = positional[0].split("::", 1)[0]
    repository = repository or env.values.get("BORG_REPO")
    dry_run = any(word in ("-n", "--dry-run") for word in words)
    action = tuple(subcommand)
    return Invocation(
        "borg", words[0], tuple(words), action, False, (), repository, dry_run, run_as, env
    )


def _positionals(words: list[str]) -> list[str]:
    found, index = [], 0
    while index < len(words):
        word = words[index]
        option, has_value, _ = word.partition("=")
        if option in BORG_VALUE_OPTIONS or option.startswith("--keep-"):
            index += 1 if has_value else 2
            continue
        if not word.startswith("-") or word == "-":
            found.append(word)
        index += 1
    return found
