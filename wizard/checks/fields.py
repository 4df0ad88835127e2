"""Checks for every value that reaches a remote shell, a config file or `command="..."`.

Each check returns the cleaned value or raises `FieldError` naming the field, so that bad
input is refused before any connection is made.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from wizard.checks.cron import explain_cron_problem

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
UNIX_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9._/+@-]*\Z")
HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
KEEP_COUNT_KEYS = (
    "keep_secondly",
    "keep_minutely",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
)
KEEP_WITHIN_RE = re.compile(r"[1-9][0-9]*[Hdwmy]\Z")
RETENTION_KEYS = (*KEEP_COUNT_KEYS, "keep_within")
MAX_KEEP = 1_000_000
QUOTA_RE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>[KMGTP]?)\Z")
QUOTA_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
MIN_QUOTA = 10 * 10**6
"""Borg refuses a storage quota under 10M."""


@dataclass
class FieldError(ValueError):
    """A bad value, with the dotted field path (``clients[1].name``) and the YAML line if known."""

    field: str
    message: str
    line: int | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.field}: {self.message}"


def check_name(field: str, value: object) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value) or len(value) > 64:
        raise FieldError(
            field,
            f"{value!r} is not a valid name: use lower-case letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 64 characters)",
        )
    return value


def check_unix_user(field: str, value: object) -> str:
    if not isinstance(value, str) or not UNIX_USER_RE.match(value):
        raise FieldError(
            field,
            f"{value!r} is not a valid user name: lower-case letters, digits, '_' and '-', "
            "starting with a letter or '_'",
        )
    return value


def check_absolute_path(field: str, value: object) -> str:
    """An absolute path safe to place in a shell word, YAML and `command="..."` unquoted."""
    if not isinstance(value, str):
        raise FieldError(field, f"expected an absolute path, got {type(value).__name__}")
    if not SAFE_PATH_RE.match(value):
        raise FieldError(
            field,
            f"{value!r} is not an allowed path: it must start with '/' and contain only letters, "
            "digits and . _ / + @ - (no spaces, quotes, control characters or shell syntax)",
        )
    if any(part == ".." for part in value.split("/")):
        raise FieldError(field, f"{value!r} must not contain '..'")
    if len(value) > 4096:
        raise FieldError(field, "path is too long")
    return value.rstrip("/") or "/"


ARCHIVE_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def check_repository_path(field: str, value: object) -> str:
    """A repository's absolute path on the server: a safe path, never `/` itself, written
    the one way (no `//`, `/./` or trailing `/`), so two spellings cannot name one place."""
    path = check_absolute_path(field, value)
    if path == "/":
        raise FieldError(field, "the repository cannot be / itself")
    plain = "/" + posixpath.normpath(path).lstrip("/")
    if plain != value:
        raise FieldError(field, f"{value!r} is not written plainly: write {plain}")
    return path


def check_archive_prefix(field: str, value: object) -> str:
    """The literal start of a client's archive names (`web01-`): letters, digits, . _ -,
    at most 64, starting with a letter or digit; no `{placeholders}` (the server would
    expand them to its own values)."""
    if not isinstance(value, str) or not ARCHIVE_PREFIX_RE.match(value):
        raise FieldError(
            field,
            f"{value!r} is not an archive prefix: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (a literal, no {placeholders})",
        )
    return value


def _unprintable(value: str) -> str | None:
    """The first character YAML or Borg would not carry as typed: control characters, line
    breaks, and invisible or non-printable ones (a plain space is fine)."""
    for char in value:
        if not char.isprintable():
            code = ord(char)
            return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return None


def check_source_directory(field: str, value: object) -> str:
    """A directory to back up. It only ever goes into borgmatic's YAML (never a shell, cron
    or `authorized_keys`), so spaces, quotes, `#`, `:`, `$`, `,` and other printable
    characters are fine. Refused: relative paths, `..` components, control characters and
    line breaks, other non-printable characters, and trailing whitespace (Borg strips it
    from pattern lines)."""
    if not isinstance(value, str):
        raise FieldError(field, f"expected an absolute path, got {type(value).__name__}")
    if not value.startswith("/"):
        raise FieldError(field, f"{value!r} is not an absolute path (it must start with '/')")
    bad = _unprintable(value)
    if bad:
        raise FieldError(field, f"{value!r} contains a control or non-printable character ({bad})")
    if value != value.rstrip():
        raise FieldError(field, f"{value!r} ends with whitespace")
    if any(part == ".." for part in value.split("/")):
        raise FieldError(field, f"{value!r} must not contain '..'")
    if len(value) > 4096:
        raise FieldError(field, "path is too long")
    return value.rstrip("/") or "/"


def check_exclude_pattern(field: str, value: object) -> str:
    """A Borg exclude pattern (`*.tmp`, `/home/*/.cache`, `sh:...`, `re:...`). Like source
    directories it only goes into borgmatic's YAML, so the same characters are allowed;
    borgmatic hands it to Borg as one line of a patterns file, so a pattern may not start
    with `#` (a comment there) or with/end in whitespace (stripped there)."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, "expected a non-empty pattern")
    bad = _unprintable(value)
    if bad:
        raise FieldError(field, f"{value!r} contains a control or non-printable character ({bad})")
    if value != value.strip():
        raise FieldError(field, f"{value!r} starts or ends with whitespace")
    if value.startswith("#"):
        raise FieldError(field, f"{value!r} starts with '#', which Borg reads as a comment")
    return value


def check_cron(field: str, value: object) -> str:
    """A 5-field cron expression as Debian's cron reads it; the error names the cron field
    and what is wrong with it ("hour 25 is out of range 0-23")."""
    if not isinstance(value, str):
        raise FieldError(field, "expected a cron expression such as '30 5 * * *'")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value.strip()):
        raise FieldError(field, "a cron expression is one line without control characters")
    problem = explain_cron_problem(value)
    if problem:
        raise FieldError(field, problem)
    from croniter import croniter  # on first use: `borgkeep --version` stays light

    if not croniter.is_valid(value):
        raise FieldError(field, f"{value!r} is not a valid cron expression")
    return " ".join(value.split())


def check_host(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise FieldError(field, "expected a host name")
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1]
        if re.fullmatch(r"[0-9A-Fa-f:.]+", inner) and ":" in inner:
            return value
    if not HOST_RE.match(value) or len(value) > 253:
        raise FieldError(field, f"{value!r} is not a valid host name or address")
    return value


def check_port(field: str, value: object) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise FieldError(field, f"{value!r} is not a port number (1-65535)")
    return value


def split_host_port(field: str, value: object) -> tuple[str, int | None]:
    """`host[:port]` or `[v6addr]:port` → (host, port)."""
    if not isinstance(value, str) or not value:
        raise FieldError(field, "expected host[:port]")
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise FieldError(field, f"{value!r}: missing ']'")
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise FieldError(field, f"{value!r} is not host[:port]")
        port = check_port(field, rest[1:]) if rest else None
        return check_host(field, host), port
    host, sep, port_text = value.partition(":")
    port = check_port(field, port_text) if sep else None
    return check_host(field, host), port


def check_keep_count(field: str, value: object) -> int:
    """One keep_* number: a whole number from 0 (rule off) to MAX_KEEP; digits typed as text
    are accepted, so a form field checks exactly what the inventory would."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(field, f"{value!r} is not a whole number (0 turns the rule off)")
    if value < 0 or value > MAX_KEEP:
        raise FieldError(field, f"{value} must be between 0 and {MAX_KEEP}")
    return value


def check_retention(field: str, value: object, require_positive: bool = True) -> dict:
    if not isinstance(value, dict):
        raise FieldError(field, "expected a mapping of keep_* options")
    result: dict[str, int | str] = {}
    for key, amount in value.items():
        sub = f"{field}.{key}"
        if key not in RETENTION_KEYS:
            raise FieldError(
                sub, f"unknown retention option (allowed: {', '.join(RETENTION_KEYS)})"
            )
        if key == "keep_within":
            if not isinstance(amount, str) or not KEEP_WITHIN_RE.match(amount):
                raise FieldError(sub, f"{amount!r} is not an interval such as '2d' or '12H'")
            result[key] = amount
            continue
        if isinstance(amount, str):
            raise FieldError(sub, f"{amount!r} is not a whole number")
        result[key] = check_keep_count(sub, amount)
    if require_positive and not any(
        (isinstance(v, int) and v > 0) or k == "keep_within" for k, v in result.items()
    ):
        raise FieldError(field, "at least one keep_* option must be greater than 0")
    return result


def check_quota(field: str, value: object) -> str:
    """A Borg storage quota such as `50G` or `1.5T` (decimal units, as Borg reads them),
    at least 10M. It lands in the client's forced command, so nothing else is allowed."""
    text = str(value).strip() if isinstance(value, (str, int)) else None
    match = QUOTA_RE.match(text or "")
    if isinstance(value, bool) or match is None:
        raise FieldError(
            field, f"{value!r} is not a size such as '50G', '500M' or '1.5T' (units K M G T P)"
        )
    amount = float(match["number"]) * QUOTA_UNITS[match["unit"]]
    if amount < MIN_QUOTA:
        raise FieldError(field, f"{text} is below Borg's minimum quota of 10M")
    return text


def quota_bytes(quota: str) -> int:
    """The number of bytes a checked quota stands for (as Borg computes it)."""
    match = QUOTA_RE.match(quota)
    assert match is not None, quota
    return int(float(match["number"]) * QUOTA_UNITS[match["unit"]])


ALERT_URL_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+\Z")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\Z")
DURATION_RE = re.compile(r"(?P<amount>[1-9][0-9]*)(?P<unit>[smhdw])\Z")
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def check_alert_url(field: str, value: object) -> str:
    """An http(s) URL the server posts alerts to: printable, no spaces or quotes (it may
    carry a token, so it is never shown, but it is written into a JSON file)."""
    if not isinstance(value, str) or not ALERT_URL_RE.match(value) or len(value) > 2048:
        raise FieldError(
            field,
            "expected an http:// or https:// URL without spaces, quotes or control characters",
        )
    return value


def check_email(field: str, value: object) -> str:
    """One address for cron's MAILTO (a line in a crontab: nothing but the address)."""
    if not isinstance(value, str) or not EMAIL_RE.match(value) or len(value) > 254:
        raise FieldError(field, f"{value!r} is not an e-mail address such as ops@example.com")
    return value


def check_duration(field: str, value: object) -> str:
    """`90m`, `36h`, `2d`, `1w` (s, m, h, d, w)."""
    if not isinstance(value, str) or not DURATION_RE.match(value):
        raise FieldError(field, f"{value!r} is not a duration such as '36h', '2d' or '90m'")
    return value


def duration_seconds(duration: str) -> int:
    match = DURATION_RE.match(duration)
    assert match is not None, duration
    return int(match["amount"]) * DURATION_SECONDS[match["unit"]]


NTFY_TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def split_ntfy_url(url: str) -> tuple[str, str]:
    """`https://ntfy.example/backups` -> ("https://ntfy.example", "backups"): ntfy publishes
    to SERVER/TOPIC, and borgmatic's hook takes the two apart."""
    server, _, topic = url.rstrip("/").rpartition("/")
    if "://" not in server or server.endswith(":/") or not NTFY_TOPIC_RE.match(topic):
        raise FieldError("alerts.ntfy", f"{url!r} is not a ntfy URL such as https://ntfy.sh/TOPIC")
    return server, topic


def check_ntfy_url(field: str, value: object) -> str:
    url = check_alert_url(field, value)
    try:
        split_ntfy_url(url)
    except FieldError as exc:
        raise FieldError(field, exc.message) from None
    return url
