"""Telling the operator: one line on stdout/stderr, syslog, and the alerts in `alerts.json`.

`{state_dir}/alerts.json` holds any subset of `{"ntfy": URL, "healthchecks": URL,
"webhook": URL}`. Problems go to all three (ntfy: the line as a plain-text POST;
Healthchecks: a POST to `URL/fail`; webhook: a JSON POST `{"server", "client", "state",
"message", "time"}`); a success only pings Healthchecks (`URL`). Sending never raises and
never prints a URL (they carry tokens); a failed alert is reported on stderr. E-mail is
cron's MAILTO.
"""

from __future__ import annotations

import json
import os
import sys
import syslog
import urllib.error
import urllib.request
from datetime import datetime
from datetime import timezone

from wizard.hostside.guard_text import MESSAGE_PREFIX
from wizard.hostside.guard_text import iso_utc

ALERTS_FILE_NAME = "alerts.json"
ALERT_TIMEOUT_SECONDS = 10
ALERT_KINDS = ("ntfy", "healthchecks", "webhook")


def report_line(client: str, text: str, *, problem: bool) -> str:
    """Print one outcome line (stdout if ok, stderr if a problem) and send it to syslog."""
    line = f"{MESSAGE_PREFIX}: {client}: {text}"
    print(line, file=sys.stderr if problem else sys.stdout, flush=True)
    try:
        syslog.openlog(MESSAGE_PREFIX, syslog.LOG_PID, syslog.LOG_USER)
        syslog.syslog(syslog.LOG_WARNING if problem else syslog.LOG_INFO, line)
    except OSError:
        pass
    return line


def load_alerts(state_dir: str) -> dict[str, str]:
    """The configured alert URLs; a missing file means none. Unreadable → none, said on stderr."""
    path = os.path.join(state_dir, ALERTS_FILE_NAME)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(descriptor, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        print(f"{MESSAGE_PREFIX}: cannot read {path}; no alerts sent", file=sys.stderr)
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        kind: data[kind]
        for kind in ALERT_KINDS
        if isinstance(data.get(kind), str) and data[kind].startswith(("https://", "http://"))
    }


def _post(url: str, body: bytes, content_type: str) -> None:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=ALERT_TIMEOUT_SECONDS) as response:
        response.read(1024)


def _why(error: BaseException) -> str:
    """A reason that never repeats the URL (urllib's messages may)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror
        return type(reason).__name__ if not isinstance(reason, str) else "URL error"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def send_alerts(
    alerts: dict[str, str],
    *,
    server: str,
    client: str,
    state: str,
    line: str,
    now: datetime | None = None,
) -> None:
    """Send `line` where configured: every channel on a problem; Healthchecks also gets the
    health job's daily all-clear (`client="all"`), its dead man's switch. A single client's
    success never pings it, so it cannot mask another client's failure."""
    problem = state != "ok"
    moment = iso_utc(now or datetime.now(timezone.utc))
    sends = []
    if problem and "ntfy" in alerts:
        sends.append(("ntfy", alerts["ntfy"], line.encode(), "text/plain; charset=utf-8"))
    if "healthchecks" in alerts and (problem or client == "all"):
        url = alerts["healthchecks"].rstrip("/") + ("/fail" if problem else "")
        sends.append(("healthchecks", url, line.encode(), "text/plain; charset=utf-8"))
    if problem and "webhook" in alerts:
        body = {"server": server, "client": client, "state": state, "message": line}
        body["time"] = moment
        sends.append(("webhook", alerts["webhook"], json.dumps(body).encode(), "application/json"))
    for kind, url, data, content_type in sends:
        try:
            _post(url, data, content_type)
        except Exception as error:  # a failed alert must never stop the guard
            print(
                f"{MESSAGE_PREFIX}: {client}: could not send the {kind} alert ({_why(error)})",
                file=sys.stderr,
                flush=True,
            )
